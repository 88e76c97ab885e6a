// The failed-login budgets reached (without the growing delay, tested in brute-force.test.ts): one
// client's on an account, an address's across accounts, an account's ceiling; a wrong current
// password counts like a failed login; registration has its own per-address budget. Budgets live
// in Redis: every instance sees the same count, and concurrent attempts cannot overshoot.
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, createTestDatabase, testConfig, buildChecked, needsRedis, redisUrl } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'

const PASSWORD = 'Correct-Horse-9-Battery'
const WRONG = 'Wrong-Guess-123'

const loginFrom = (app: FastifyInstance, email: string, password: string, remoteAddress = '127.0.0.1', cookie?: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress, headers: cookie ? { cookie } : {} })

const statuses = async (n: number, attempt: (i: number) => Promise<LightMyRequestResponse>) => {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await attempt(i)).statusCode)
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

// The production budgets without the growing delay, to reach them quickly.
const undelayed = await build(t, { RATE_LIMIT_MAX: undefined, RATE_LIMIT_LOGIN_DELAY_SECONDS: 0 })

t.test('ten failures of one client lock that client out of the account, not the owner elsewhere', async (t) => {
  const victim = await createUser(undelayed, { email: 'victim@example.com' })
  const bystander = await createUser(undelayed, { email: 'bystander@example.com' })
  const wrong = () => loginFrom(undelayed, 'VICTIM@example.com', WRONG, '203.0.113.5')

  t.same(await statuses(5, wrong), Array(5).fill(401))
  t.equal((await loginFrom(undelayed, victim.email, PASSWORD, '203.0.113.5')).statusCode, 200, 'a right password between the guesses')
  t.same(await statuses(5, wrong), Array(5).fill(401), 'ten failures: the success did not count')
  assertLimited(t, await wrong(), 10, /^Too many failed logins for this account from this client, retry in \d+ minutes?$/)
  t.equal((await loginFrom(undelayed, victim.email, PASSWORD, '203.0.113.5')).statusCode, 429, 'that client is refused, any case')
  t.equal((await loginFrom(undelayed, victim.email, PASSWORD, '198.51.100.20')).statusCode, 200, 'the owner from another address logs in')
  t.equal((await loginFrom(undelayed, bystander.email, PASSWORD, '203.0.113.5')).statusCode, 200, 'another account from that address too')
})

t.test('a wrong currentPassword counts like a failed login (per account, per client)', async (t) => {
  const user = await createUser(undelayed, { email: 'changer@example.com' })
  const change = (currentPassword: string) =>
    undelayed.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: user.headers,
      payload: { password: 'Brand-New-Pass-7', currentPassword },
    })
  t.same(await statuses(10, () => change('Not-The-One-1')), Array(10).fill(400), 'ten wrong current passwords: 400 each')
  assertLimited(t, await change(PASSWORD), 10, /for this account from this client/)
  t.equal((await loginFrom(undelayed, user.email, PASSWORD)).statusCode, 429, 'the same budget as logins from that address')
  const me = await undelayed.inject({ method: 'GET', url: `/api/v1/users/${user.id}`, headers: user.headers })
  t.equal(me.json().data.version, 1, 'the password was not changed')
})

// Without Redis each instance counts on its own: sharing needs REDIS_URL.
t.test(
  'several instances share the budgets (per client and account, per address, per account, registration), exactly',
  { skip: redisUrl() ? false : needsRedis },
  async (t) => {
    const url = await createTestDatabase(t)
    const instance = async () => {
      const config = testConfig(url, {
        RATE_LIMIT_LOGIN_CLIENT_MAX: 12,
        RATE_LIMIT_LOGIN_ACCOUNT_MAX: 20,
        RATE_LIMIT_LOGIN_DELAY_SECONDS: 0,
        RATE_LIMIT_REGISTER_MAX: 3,
      })
      const app = await buildChecked({ config, logger: false })
      t.teardown(() => app.close())
      await app.ready()
      return app
    }
    const [a, b] = [await instance(), await instance()]
    const shared = await createUser(a, { email: 'shared@example.com' })

    t.test('a client on an account: six failures on one instance and four on the other lock it on both', async (t) => {
      const wrong = (app: FastifyInstance) => () => loginFrom(app, shared.email, WRONG, '203.0.113.1')
      t.same(await statuses(6, wrong(a)), Array(6).fill(401))
      t.same(await statuses(4, wrong(b)), Array(4).fill(401))
      t.equal((await loginFrom(a, shared.email, PASSWORD, '203.0.113.1')).statusCode, 429)
      t.equal((await loginFrom(b, shared.email, PASSWORD, '203.0.113.1')).statusCode, 429)
      t.equal((await loginFrom(b, shared.email, PASSWORD, '203.0.113.2')).statusCode, 200, 'another address logs in')
    })

    t.test('an address: a ceiling across accounts, then every account refused from that address only', async (t) => {
      const other = await createUser(a, { email: 'other@example.com' })
      const spray = (i: number) => loginFrom(i % 2 ? a : b, `sprayed-${i}@example.com`, WRONG, '203.0.113.9')
      t.same(await statuses(12, spray), Array(12).fill(401), 'twelve failures over twelve accounts')
      assertLimited(t, await loginFrom(a, other.email, PASSWORD, '203.0.113.9'), 12, /^Too many failed logins from this address/)
      t.equal((await loginFrom(b, other.email, PASSWORD, '203.0.113.10')).statusCode, 200, 'from another address it logs in')
    })

    t.test('concurrent guesses cannot overshoot a budget', async (t) => {
      const target = await createUser(a, { email: 'target@example.com' })
      const count = (responses: LightMyRequestResponse[], code: number) => responses.filter((r) => r.statusCode === code).length
      // (Twelve: the address's own budget, so only the account's budget for that client decides.)
      const fromOne = await Promise.all(
        Array.from({ length: 12 }, (_, i) => loginFrom(i % 2 ? a : b, target.email, `${WRONG}-${i}`, '192.0.2.77')),
      )
      t.same([count(fromOne, 401), count(fromOne, 429)], [10, 2], 'one address: exactly ten passwords checked')
      const fromMany = await Promise.all(
        Array.from({ length: 24 }, (_, i) => loginFrom(i % 2 ? a : b, target.email, `${WRONG}-m${i}`, `192.0.2.${i + 1}`)),
      )
      t.same([count(fromMany, 401), count(fromMany, 429)], [10, 14], 'many addresses: ten more, the account ceiling of 20 holds exactly')
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
