// Brute force counts failures, and strangers cannot lock an owner out. Failed logins are limited per
// client on one account (its device cookie, else its address; with a growing delay), per address
// across accounts, and per account for clients that never logged in to it (a ceiling far above one
// client's); a client that logged in before keeps its own budget. A success never counts;
// registration has its own per-address budget; a wrong current password counts like a failed login.
// Budgets live in Redis: every instance sees the same count, and concurrent attempts cannot overshoot.
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build, createTestDatabase, testConfig, buildChecked, needsRedis, redisUrl } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'
import { waitFor } from '../../helpers/wait.js'
import { createLoginFailures } from '../../../plugins/rate-limit/login-failures.js'

const PASSWORD = 'Correct-Horse-9-Battery'
const WRONG = 'Wrong-Guess-123'

const loginFrom = (app: FastifyInstance, email: string, password: string, remoteAddress = '127.0.0.1', cookie?: string) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password }, remoteAddress, headers: cookie ? { cookie } : {} })

const statuses = async (n: number, attempt: (i: number) => Promise<LightMyRequestResponse>) => {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await attempt(i)).statusCode)
  return out
}

/** The device cookie a successful login hands out, as a client sends it back. */
const deviceCookieOf = (res: LightMyRequestResponse) => {
  const set = res.headers['set-cookie']
  return String(Array.isArray(set) ? set[0] : set).split(';')[0]!
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
// The same budgets without the growing delay, to reach them quickly.
const undelayed = await build(t, { RATE_LIMIT_MAX: undefined, RATE_LIMIT_LOGIN_DELAY_SECONDS: 0 })

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

t.test('one client guessing one account waits longer after each failure: 1 s, then 2 s', async (t) => {
  const victim = await createUser(app, { email: 'slowed@example.com' })
  const from = '198.51.100.30'
  t.same(await statuses(3, () => loginFrom(app, victim.email, WRONG, from)), [401, 401, 401], 'three failures at once')
  const fourth = await loginFrom(app, victim.email, WRONG, from)
  assertLimited(t, fourth, 10, /^Too many failed logins for this account from this client, retry in 1 second$/)
  t.equal((await loginFrom(app, victim.email, PASSWORD, '198.51.100.31')).statusCode, 200, 'the owner, elsewhere, is not slowed')
  await waitFor(async () => (await loginFrom(app, victim.email, WRONG, from)).statusCode === 401, { what: 'the 1 s delay to pass' })
  const next = await loginFrom(app, victim.email, WRONG, from)
  t.equal(next.statusCode, 429)
  t.equal(next.headers['retry-after'], '2', 'after the fourth failure: 2 s')
})

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

t.test('strangers failing from many addresses cannot lock the owner out (production budgets)', async (t) => {
  const owner = await createUser(app, { email: 'owner@example.com' })
  const home = await loginFrom(app, owner.email, PASSWORD, '192.0.2.1')
  const device = deviceCookieOf(home)
  t.match(
    home.headers['set-cookie'],
    /^keel_device=[\w-]{22}\.\d{10}\.[\w-]{43}; Path=\/api\/v1\/auth\/login; Max-Age=15552000; HttpOnly; SameSite=Strict$/,
  )
  t.notOk(String(home.headers['set-cookie']).includes('owner'), 'the cookie says nothing of the account')

  // Twenty addresses, three wrong guesses each: sixty failures, six times what locked the account before.
  const guess = (i: number) => loginFrom(app, owner.email, `${WRONG}-${i}`, `10.20.${Math.floor(i / 3)}.1`)
  t.same([...new Set(await statuses(60, guess))], [401], 'sixty failures from twenty addresses')
  t.equal(
    (await loginFrom(app, owner.email, PASSWORD, '198.51.100.77')).statusCode,
    200,
    'the owner, from a fresh address, without its cookie',
  )

  // Past the ceiling for clients that never logged in to the account (100): those are refused...
  const more = await statuses(45, (i) => loginFrom(app, owner.email, `${WRONG}-x${i}`, `10.21.${Math.floor(i / 3)}.1`))
  t.equal(more.filter((c) => c === 401).length, 40, 'a hundred failures in all were checked')
  assertLimited(
    t,
    await loginFrom(app, owner.email, PASSWORD, '198.51.100.78'),
    100,
    /^Too many failed logins for this account from new devices, retry in \d+ minutes$/,
  )
  // ...but a client that logged in before keeps its own budget, from whichever address.
  const again = await loginFrom(app, owner.email, PASSWORD, '198.51.100.79', device)
  t.equal(again.statusCode, 200, 'the owner with its device cookie logs in')
  t.equal(deviceCookieOf(again).split('.')[0], device.split('.')[0], 'the same device, its cookie renewed')

  const stranger = await createUser(app, { email: 'stranger@example.com' })
  const ownCookie = deviceCookieOf(await loginFrom(app, stranger.email, PASSWORD, '10.22.0.1'))
  t.equal((await loginFrom(app, owner.email, WRONG, '10.22.0.1', ownCookie)).statusCode, 429, 'a cookie of another account does not help')
  const forged = device.replace(/\.(.)([\w-]{42})$/, (_, c: string, rest: string) => `.${c === 'A' ? 'B' : 'A'}${rest}`)
  t.equal((await loginFrom(app, owner.email, PASSWORD, '10.22.0.2', forged)).statusCode, 429, 'nor a tampered one')

  // The device's own budget: its failures are slowed and counted like any client's.
  t.same(await statuses(3, () => loginFrom(app, owner.email, WRONG, '10.23.0.1', device)), [401, 401, 401])
  assertLimited(t, await loginFrom(app, owner.email, WRONG, '10.23.0.2', device), 10, /from this client, retry in 1 second$/)
})

t.test('the device cookie: HttpOnly, SameSite=Strict, and Secure in production', async (t) => {
  const budgets = { windowMs: 60_000, client: 1, clientAccount: 1, account: 1, delayMs: 0 }
  const make = (secureCookie: boolean) =>
    createLoginFailures({
      redis: null,
      budgets,
      secret: Buffer.alloc(32, 1),
      secureCookie,
      failOpen: true,
      refused: () => new Error('refused'),
      unavailable: () => new Error('unavailable'),
      onError() {},
      onOk() {},
    })
  t.equal(make(true).deviceCookie('v', '/p'), 'keel_device=v; Path=/p; Max-Age=15552000; HttpOnly; SameSite=Strict; Secure')
  t.notMatch(make(false).deviceCookie('v', '/p'), /Secure/)
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
