import t from 'tap'
import { build } from '../../helpers/build.js'
import { login } from '../../helpers/auth.js'
import { seedDemoData } from '../../../src/dev/seed.js'
import { loadConfig } from '../../../src/lib/config.js'

t.test('first start seeds an admin and demo users, printing their passwords once', async (t) => {
  const app = await build(t)
  const printed: string[] = []
  const log = console.log
  console.log = (...args: unknown[]) => void printed.push(args.join(' '))
  t.teardown(() => {
    console.log = log
  })

  await seedDemoData(app)
  const output = printed.join('\n')
  const admin = /admin\s+admin@keel\.local\s+password: (\S+)/.exec(output)
  const demo = /user\s+alice@keel\.local\s+password: (\S+)/.exec(output)
  t.ok(admin, 'the admin password is printed')
  t.ok(demo, 'the demo password is printed')
  const passwords = ['admin', 'moderator', 'alice', 'bob'].map(
    (name) => new RegExp(`${name}@keel\\.local\\s+password: (\\S+)`).exec(output)?.[1],
  )
  t.equal(new Set(passwords.filter(Boolean)).size, 4, 'admin, moderator, alice and bob each have a password of their own')
  await t.rejects(login(app, 'bob@keel.local', passwords[2]!), /401/, "Alice's password does not open Bob's account")

  const session = await login(app, 'admin@keel.local', admin![1]!)
  const me = await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${session.accessToken}` } })
  t.match(me.json().data, { role: 'admin', permissions: ['read', 'write', 'delete', 'admin'] })
  t.ok(await login(app, 'alice@keel.local', demo![1]!))
  t.ok(await login(app, 'bob@keel.local', passwords[3]!))

  printed.length = 0
  await seedDemoData(app)
  t.notMatch(printed.join('\n'), /password:/, 'a second start prints no password and creates nothing')
  const users = await app.inject({ method: 'GET', url: '/api/v1/users', headers: { authorization: `Bearer ${session.accessToken}` } })
  t.equal(users.json().meta.total, 4)
})

t.test('the demo seed refuses to run with NODE_ENV=production', async (t) => {
  const app = await build(t, { NODE_ENV: 'production' })
  await t.rejects(seedDemoData(app), /refuses to run with NODE_ENV=production/)
  const [{ n }] = await app.sql<[{ n: number }]>`select count(*)::int as n from users`
  t.equal(n, 0, 'no demo account was created')
  t.throws(
    () => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(40), SEED_DEMO_DATA: 'true' }),
    /SEED_DEMO_DATA="true": the demo seed never runs with NODE_ENV=production/,
    'asking for it in production stops the process at start, naming the variable',
  )
})
