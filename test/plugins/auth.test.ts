import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { resolveJwtSecret } from '../../plugins/auth.js'
import { createTestDatabase, testConfig, buildChecked } from '../helpers/build.js'
import { createUser } from '../helpers/auth.js'

const silent = { warn: () => {} } as never

t.test('without JWT_SECRET a development secret is generated once and reused', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'keel-jwt-')), 'nested', 'jwt-secret')
  const first = resolveJwtSecret({ NODE_ENV: 'development', JWT_SECRET: undefined }, silent, file)
  t.ok(first.length >= 32)
  t.equal(readFileSync(file, 'utf8'), first)
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by the owner only')
  t.equal(resolveJwtSecret({ NODE_ENV: 'development', JWT_SECRET: undefined }, silent, file), first, 'tokens survive a restart')
  t.equal(resolveJwtSecret({ NODE_ENV: 'development', JWT_SECRET: 'x'.repeat(40) }, silent, file), 'x'.repeat(40), 'JWT_SECRET wins')
  t.throws(() => resolveJwtSecret({ NODE_ENV: 'production', JWT_SECRET: undefined }, silent, file), /JWT_SECRET/)
})

t.test('authenticateOptional: null without credentials, the user with them, 401 with bad ones', async (t) => {
  const app = await buildChecked({ config: testConfig(await createTestDatabase(t)), logger: false })
  t.teardown(() => app.close())
  app.get('/probe', { preHandler: app.authenticateOptional }, async (request) => ({ user: request.user }))
  app.get('/admin-only', { preHandler: app.requirePermission('admin') }, async () => ({ ok: true }))
  await app.ready()
  const user = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })

  t.same((await app.inject({ url: '/probe' })).json(), { user: null })
  t.match((await app.inject({ url: '/probe', headers: user.headers })).json(), {
    user: { id: user.id, role: 'user', permissions: ['read', 'write'] },
  })
  t.equal((await app.inject({ url: '/probe', headers: { authorization: 'Bearer nope' } })).statusCode, 401)

  t.equal((await app.inject({ url: '/admin-only' })).statusCode, 401)
  const forbidden = await app.inject({ url: '/admin-only', headers: user.headers })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().code, 'FORBIDDEN')
  t.equal((await app.inject({ url: '/admin-only', headers: admin.headers })).statusCode, 200)
})
