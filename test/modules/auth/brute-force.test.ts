// Brute force counts failures, and strangers cannot lock an owner out. Failed logins are limited per
// client on one account (its device cookie, else its address; with a growing delay), per address
// across accounts, and per account for clients that never logged in to it (a ceiling far above one
// client's); a client that logged in before keeps its own budget. A success never counts;
// registration has its own per-address budget; a wrong current password counts like a failed login.
// Budgets live in Redis: every instance sees the same count, and concurrent attempts cannot overshoot.
import t, { type Test } from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { build } from '../../helpers/build.js'
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
