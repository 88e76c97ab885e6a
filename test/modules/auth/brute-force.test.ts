// Brute force counts failures: failed logins are limited per account (its email) and per client (its
// address, a higher ceiling), a success does not count, registration has its own per-client budget,
// and a wrong current password counts like a failed login. Budgets live in Redis: every instance
// sees the same count, and concurrent attempts cannot overshoot them.
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, createTestDatabase, testConfig, buildChecked, needsRedis, redisUrl } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'

const PASSWORD = 'Correct-Horse-9-Battery'

const loginFrom = (app: FastifyInstance, email: string, password: string, remoteAddress = '127.0.0.1') =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress })

const statuses = async (n: number, attempt: () => Promise<LightMyRequestResponse>) => {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await attempt()).statusCode)
  return out
}

/** A 429 in the error envelope, with retry-after and the x-ratelimit headers of the spent budget. */
function assertLimited(t: Test, res: LightMyRequestResponse, limit: number, message: RegExp) {
  t.equal(res.statusCode, 429)
  t.match(res.json(), { success: false, code: 'RATE_LIMITED', error: message })
  t.equal(res.headers['x-ratelimit-limit'], String(limit))
  t.equal(res.headers['x-ratelimit-remaining'], '0')
  const retryAfter = Number(res.headers['retry-after'])
  t.ok(retryAfter > 0 && retryAfter <= 900, `retry-after within the 15-minute window (${retryAfter})`)
  t.equal(res.headers['x-ratelimit-reset'], res.headers['retry-after'])
}

// The production defaults (test/helpers/build.ts lifts the general limit for other files).
const app = await build(t, { RATE_LIMIT_MAX: undefined })

t.test('thirty people behind one address all register and log in: no 429', async (t) => {
  const codes: number[] = []
  for (let i = 0; i < 30; i++) {
    const email = `colleague-${i}@office.example`
    const reg = await app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, password: PASSWORD } })
    const login = await loginFrom(app, email, PASSWORD)
    codes.push(reg.statusCode, login.statusCode)
  }
  t.same([...new Set(codes)], [201, 200], 'every registration 201, every login 200')
})

t.test('ten failed logins lock that email, not the others nor the address; a success does not count', async (t) => {
  const victim = await createUser(app, { email: 'victim@example.com' })
  const bystander = await createUser(app, { email: 'bystander@example.com' })
  const wrong = () => loginFrom(app, 'VICTIM@example.com', 'Wrong-Guess-123')

  t.same(await statuses(5, wrong), [401, 401, 401, 401, 401])
  t.equal((await loginFrom(app, victim.email, PASSWORD)).statusCode, 200, 'the owner logs in between the guesses')
  t.same(await statuses(4, wrong), [401, 401, 401, 401])
  t.equal((await loginFrom(app, victim.email, PASSWORD)).statusCode, 200, 'ten attempts, nine failures: the successes did not count')
  t.equal((await wrong()).statusCode, 401, 'the tenth failure')

  assertLimited(t, await loginFrom(app, victim.email, PASSWORD), 10, /^Too many failed logins for this account, retry in \d+ minutes?$/)
  assertLimited(t, await wrong(), 10, /for this account/)
  t.equal((await loginFrom(app, victim.email, PASSWORD, '198.51.100.20')).statusCode, 429, 'locked from any address')
  t.equal((await loginFrom(app, bystander.email, PASSWORD)).statusCode, 200, 'another account from the same address logs in')
  t.equal((await loginFrom(app, 'someone-else@example.com', 'Wrong-Guess-123')).statusCode, 401, 'and other emails are still checked')
})

t.test('a wrong currentPassword counts like a failed login (per account)', async (t) => {
  const user = await createUser(app, { email: 'changer@example.com' })
  const change = (currentPassword: string) =>
    app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: user.headers,
      payload: { password: 'Brand-New-Pass-7', currentPassword },
    })
  t.same(await statuses(10, () => change('Not-The-One-1')), Array(10).fill(400), 'ten wrong current passwords: 400 each')
  assertLimited(t, await change(PASSWORD), 10, /for this account/)
  t.equal((await loginFrom(app, user.email, PASSWORD)).statusCode, 429, 'the same budget as logins')
  const me = await app.inject({ method: 'GET', url: `/api/v1/users/${user.id}`, headers: user.headers })
  t.equal(me.json().data.version, 1, 'the password was not changed')
})

// Without Redis each instance counts on its own: sharing needs REDIS_URL.
t.test(
  'several instances share the budgets (per account, per client, registration), exactly',
  { skip: redisUrl() ? false : needsRedis },
  async (t) => {
    const url = await createTestDatabase(t)
    const instance = async () => {
      const config = testConfig(url, { RATE_LIMIT_LOGIN_CLIENT_MAX: 12, RATE_LIMIT_REGISTER_MAX: 3 })
      const app = await buildChecked({ config, logger: false })
      t.teardown(() => app.close())
      await app.ready()
      return app
    }
    const [a, b] = [await instance(), await instance()]
    const shared = await createUser(a, { email: 'shared@example.com' })

    t.test('an account: six failures on one instance and four on the other lock it on both', async (t) => {
      const wrong = (app: FastifyInstance) => () => loginFrom(app, shared.email, 'Wrong-Guess-123', '203.0.113.1')
      t.same(await statuses(6, wrong(a)), Array(6).fill(401))
      t.same(await statuses(4, wrong(b)), Array(4).fill(401))
      t.equal((await loginFrom(a, shared.email, PASSWORD, '203.0.113.2')).statusCode, 429)
      t.equal((await loginFrom(b, shared.email, PASSWORD, '203.0.113.3')).statusCode, 429)
    })

    t.test('a client: a higher ceiling across accounts, then every account refused from that address only', async (t) => {
      const other = await createUser(a, { email: 'other@example.com' })
      const spray = (i: number) => loginFrom(i % 2 ? a : b, `sprayed-${i}@example.com`, 'Wrong-Guess-123', '203.0.113.9')
      const codes: number[] = []
      for (let i = 0; i < 12; i++) codes.push((await spray(i)).statusCode)
      t.same(codes, Array(12).fill(401), 'twelve failures over twelve accounts')
      assertLimited(t, await loginFrom(a, other.email, PASSWORD, '203.0.113.9'), 12, /^Too many failed logins from this address/)
      t.equal((await loginFrom(b, other.email, PASSWORD, '203.0.113.10')).statusCode, 200, 'from another address it logs in')
    })

    t.test('concurrent guesses cannot overshoot an account budget', async (t) => {
      const target = await createUser(a, { email: 'target@example.com' })
      const guesses = await Promise.all(
        Array.from({ length: 16 }, (_, i) => loginFrom(i % 2 ? a : b, target.email, `Wrong-Guess-${i}`, `192.0.2.${i + 1}`)),
      )
      const count = (code: number) => guesses.filter((g) => g.statusCode === code).length
      t.equal(count(401), 10, 'exactly ten passwords were checked')
      t.equal(count(429), 6, 'the others were refused unchecked')
    })

    t.test('registration has its own per-client budget', async (t) => {
      const register = (app: FastifyInstance, email: string, remoteAddress: string) =>
        app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, password: PASSWORD }, remoteAddress })
      const codes = [
        (await register(a, 'signup-1@example.com', '198.51.100.1')).statusCode,
        (await register(b, 'signup-2@example.com', '198.51.100.1')).statusCode,
        (await register(a, 'signup-1@example.com', '198.51.100.1')).statusCode, // a refused one counts too
      ]
      t.same(codes, [201, 201, 409])
      const refused = await register(b, 'signup-3@example.com', '198.51.100.1')
      t.equal(refused.statusCode, 429, 'the fourth from one address, whichever instance')
      t.match(refused.json(), { code: 'RATE_LIMITED', error: /^Rate limit exceeded, retry in \d+ minutes?$/ })
      t.equal(refused.headers['x-ratelimit-limit'], '3')
      t.ok(Number(refused.headers['retry-after']) > 0)
      t.equal((await register(a, 'signup-3@example.com', '198.51.100.2')).statusCode, 201, 'another address signs up')
      t.equal((await loginFrom(a, 'signup-1@example.com', PASSWORD, '198.51.100.1')).statusCode, 200, 'logins are another budget')
    })
  },
)
