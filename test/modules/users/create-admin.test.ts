// `npm run create-admin -- <email>` as an operator runs it (the real script, in its own process):
// on DATABASE_URL or on the embedded database, creating or promoting an admin, with the password
// piped on stdin or generated and printed once.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import postgres from 'postgres'
import { embeddedUrl, startEmbeddedPostgres } from '../../../src/dev/embedded-postgres.js'
import { projectRoot } from '../../../src/lib/paths.js'
import { createTestDatabase, testConfig, buildChecked } from '../../helpers/build.js'
import { bearer, createUser, login } from '../../helpers/auth.js'
import { freePort } from '../../helpers/redis-server.js'

const script = join(projectRoot, 'src', 'cli', 'create-admin.ts')

/** Run the script; `stdin` undefined = nothing piped (as from a terminal: the password is generated). */
function createAdmin(args: string[], env: Record<string, string | undefined>, stdin?: string) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH, JWT_SECRET: 'create-admin-test-secret-at-least-32-chars', ...env },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => resolve({ code, out, err }))
    if (stdin !== undefined) child.stdin!.end(stdin)
  })
}

t.test('on DATABASE_URL: creates an admin, or promotes an account', async (t) => {
  const url = await createTestDatabase(t)
  const config = testConfig(url)
  const app = await buildChecked({ config, logger: false })
  t.teardown(() => app.close())
  await app.ready()
  // The server's own Redis and key prefix: a promotion reaches its cached auth state at once.
  const env = { DATABASE_URL: url, REDIS_URL: config.REDIS_URL, REDIS_KEY_PREFIX: config.REDIS_KEY_PREFIX }
  const me = (accessToken: string) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: bearer(accessToken) })

  t.test('a new admin, with the password piped on stdin or a generated one printed once', async (t) => {
    const [piped, generated] = await Promise.all([
      createAdmin(['Ops@Example.com'], env, 'Piped-Admin-Pass-1\n'),
      createAdmin(['root@example.com'], env),
    ])
    t.equal(piped.code, 0, piped.err)
    t.match(piped.out, /Admin created: ops@example\.com \(with the password given on stdin\)/)
    t.notMatch(piped.out, /Piped-Admin-Pass-1/, 'a given password is not echoed')
    const ops = await login(app, 'ops@example.com', 'Piped-Admin-Pass-1')
    t.match((await me(ops.accessToken)).json().data, { role: 'admin', permissions: ['read', 'write', 'delete', 'admin'] })

    t.equal(generated.code, 0, generated.err)
    const password = /password: (\S+)/.exec(generated.out)?.[1]
    t.ok(password, 'the generated password is printed')
    const root = await login(app, 'root@example.com', password!)
    t.equal((await me(root.accessToken)).json().data.role, 'admin')
  })

  t.test('an existing account, even disabled, is promoted and keeps its password; a bad email is refused', async (t) => {
    const user = await createUser(app, { email: 'promote-me@example.com' })
    await app.users.ensureAdmin('demoted-helper@example.com', 'Helper-Admin-Pass-3')
    const helper = await login(app, 'demoted-helper@example.com', 'Helper-Admin-Pass-3')
    const disabled = await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: bearer(helper.accessToken),
      payload: { status: 'disabled' },
    })
    t.equal(disabled.statusCode, 200)
    const [promoted, bad, usage] = await Promise.all([
      createAdmin(['promote-me@example.com'], env),
      createAdmin(['not-an-email'], env),
      createAdmin([], env),
    ])
    t.equal(promoted.code, 0, promoted.err)
    t.match(promoted.out, /promote-me@example\.com is now an active admin\./)
    t.notMatch(promoted.out, /password:/, 'no password is generated for an existing account')
    const session = await login(app, user.email, user.password)
    t.match((await me(session.accessToken)).json().data, { role: 'admin', status: 'active' })

    t.equal(bad.code, 1)
    t.match(bad.err, /create-admin: Not an email address: not-an-email/)
    t.equal(usage.code, 1)
    t.match(usage.err, /Usage: npm run create-admin -- <email>/)
  })

  t.test('a password given for an existing account replaces it and ends its sessions; a weak one is refused', async (t) => {
    const before = await login(app, 'ops@example.com', 'Piped-Admin-Pass-1')
    await app.users.ensureAdmin('ops@example.com', 'Replaced-Admin-Pass-2')
    t.equal((await me(before.accessToken)).statusCode, 401, 'the old sessions ended')
    t.ok(await login(app, 'ops@example.com', 'Replaced-Admin-Pass-2'))
    await t.rejects(app.users.ensureAdmin('weak@example.com', 'short'), { code: 'VALIDATION_ERROR', message: /at least 10 characters/ })
    await t.rejects(login(app, 'weak@example.com', 'short'), /401/, 'no account was created')
  })
})

t.test('without DATABASE_URL: the embedded database, started for the moment or already running', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-create-admin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const port = await freePort()
  const env = { EMBEDDED_PG_DIR: dir, EMBEDDED_PG_PORT: String(port) }
  const admins = async () => {
    const sql = postgres(embeddedUrl(port), { max: 1, onnotice: () => {} })
    try {
      return (await sql<{ email: string }[]>`select email from users where role = 'admin' order by email`).map((r) => r.email)
    } finally {
      await sql.end({ timeout: 1 })
    }
  }

  const first = await createAdmin(['first@example.com'], env, 'Embedded-Admin-Pass-1')
  t.equal(first.code, 0, first.err)
  t.match(first.out, /Starting the embedded PostgreSQL/)

  // As under a running `npm start`: the database is up, and the script uses it as it is.
  const running = await startEmbeddedPostgres({ dir, port })
  t.teardown(() => running.stop())
  const second = await createAdmin(['second@example.com'], env, 'Embedded-Admin-Pass-2')
  t.equal(second.code, 0, second.err)
  t.notMatch(second.out, /Starting the embedded PostgreSQL/)
  t.same(await admins(), ['first@example.com', 'second@example.com'])
})
