// Issue 21 items 1 and 2, issue 18 item 4: the emailed links — verify an address, reset a forgotten
// password, confirm a new address. Tokens work once, expire, are stored only as hashes, and the
// answers never tell whether an address has an account.
import { createHash } from 'node:crypto'
import t from 'tap'
import type { FastifyBaseLogger } from 'fastify'
import { createTransport } from '../../../modules/emails/transport.js'
import { build } from '../../helpers/build.js'
import { bearer, createUser, emailedToken, login } from '../../helpers/auth.js'
import { waitFor } from '../../helpers/wait.js'

const PASSWORD = 'Correct-Horse-9-Battery'
const app = await build(t, { RATE_LIMIT_EMAIL_LINK_MAX: 3, RATE_LIMIT_EMAIL_LINK_CLIENT_MAX: 6 })

let counter = 0
const address = (name: string) => `${name}-${process.pid}-${++counter}@example.test`
const post = (url: string, payload: object, headers: Record<string, string> = {}, remoteAddress?: string) =>
  app.inject({ method: 'POST', url: `/api/v1${url}`, payload, headers, ...(remoteAddress ? { remoteAddress } : {}) })
const me = (headers: Record<string, string>) => app.inject({ method: 'GET', url: '/api/v1/auth/me', headers })
const emailsTo = async (to: string) =>
  (await app.sql<{ template: string }[]>`select template from email_outbox where "to" = ${to} order by id`).map((r) => r.template)

/** Move the app's clock (token expiry) for one test. */
function moveClock(t: { teardown: (fn: () => unknown) => void }, byMs: number) {
  const real = app.clock.now
  app.clock.now = () => real() + byMs
  t.teardown(() => {
    app.clock.now = real
  })
}

async function signUp(email = address('new')) {
  const res = await post('/auth/register', { email, password: PASSWORD })
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`)
  const session = await login(app, email, PASSWORD)
  return { id: res.json().data.id as string, email, password: PASSWORD, headers: bearer(session.accessToken), ...session }
}

t.test('sign-up sends a verification link; its token works once and is stored only as a hash', async (t) => {
  const user = await signUp()
  t.equal((await me(user.headers)).json().data.emailVerified, false, 'a new account is not verified')

  const [email] = await app.sql<{ text: string }[]>`select text from email_outbox where "to" = ${user.email} and template = 'verify-email'`
  t.match(email!.text, /\/verify-email\?token=\{\{email-token:[0-9a-f-]{36}\}\}/, 'the outbox holds a placeholder, not the token')
  const token = await emailedToken(app, user.email, 'verify-email')
  const [stored] = await app.sql<{ tokenHash: string }[]>`select token_hash as "tokenHash" from email_tokens where user_id = ${user.id}`
  t.equal(stored!.tokenHash, createHash('sha256').update(token).digest('hex'), 'only the SHA-256 of the token is stored')
  t.notOk(JSON.stringify(await app.sql`select * from email_tokens`).includes(token), 'the token itself is nowhere in the table')

  const verified = await post('/auth/verify-email', { token })
  t.equal(verified.statusCode, 200)
  t.match(verified.json().data, { id: user.id, emailVerified: true })
  t.equal((await me(user.headers)).json().data.emailVerified, true)

  const again = await post('/auth/verify-email', { token })
  const unknown = await post('/auth/verify-email', { token: 'x'.repeat(43) })
  t.equal(again.statusCode, 400, 'a used token is refused')
  t.equal(again.json().code, 'INVALID_TOKEN')
  t.same({ ...again.json(), requestId: '' }, { ...unknown.json(), requestId: '' }, 'a used token and an unknown one get the same answer')
  t.equal((await post('/auth/resend-verification', {}, user.headers)).json().code, 'EMAIL_ALREADY_VERIFIED')
})

t.test('a verification link expires after EMAIL_VERIFICATION_TTL_HOURS, and a newer one voids it', async (t) => {
  const user = await signUp()
  const first = await emailedToken(app, user.email, 'verify-email')
  const resent = await post('/auth/resend-verification', {}, user.headers)
  t.equal(resent.statusCode, 202)
  const second = await emailedToken(app, user.email, 'verify-email')
  t.not(second, first)
  t.equal((await post('/auth/verify-email', { token: first })).json().code, 'INVALID_TOKEN', 'the older link stopped working')

  t.test('past its 48 hours, the newer one is refused too', async (t) => {
    moveClock(t, 48 * 3_600_000 + 1000)
    t.equal((await post('/auth/verify-email', { token: second })).json().code, 'INVALID_TOKEN')
  })
  t.test('within them it works', async (t) => {
    moveClock(t, 47 * 3_600_000)
    t.equal((await post('/auth/verify-email', { token: second })).statusCode, 200)
  })
})

t.test('resending is throttled per account (RATE_LIMIT_EMAIL_LINK_MAX)', async (t) => {
  const user = await signUp()
  const codes = []
  for (let i = 0; i < 4; i++) codes.push((await post('/auth/resend-verification', {}, user.headers)).statusCode)
  t.same(codes, [202, 202, 202, 429])
  t.equal((await emailsTo(user.email)).filter((e) => e === 'verify-email').length, 4, 'the sign-up link and three more')
})

t.test('an unverified account may not create API keys or webhooks (REQUIRE_VERIFIED_EMAIL_FOR, default)', async (t) => {
  const user = await signUp()
  const key = () => post('/api-keys', { currentPassword: user.password }, user.headers)
  const hook = () =>
    post('/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['product.updated'], currentPassword: user.password }, user.headers)
  for (const res of [await key(), await hook()]) {
    t.equal(res.statusCode, 403)
    t.equal(res.json().code, 'EMAIL_NOT_VERIFIED')
  }
  await post('/auth/verify-email', { token: await emailedToken(app, user.email, 'verify-email') })
  t.equal((await key()).statusCode, 201, 'once verified, a key')
  t.equal((await hook()).statusCode, 201, 'and a webhook')
})

t.test('forgot-password answers alike whether or not the address has an account', async (t) => {
  const user = await createUser(app, { email: address('known') })
  const nobody = address('nobody')
  const known = await post('/auth/forgot-password', { email: user.email.toUpperCase() }, {}, '10.0.1.1')
  const unknown = await post('/auth/forgot-password', { email: nobody }, {}, '10.0.1.1')
  t.equal(known.statusCode, 202)
  t.equal(unknown.statusCode, 202)
  t.same({ ...known.json(), requestId: '' }, { ...unknown.json(), requestId: '' }, 'same body')
  t.same(known.json(), unknown.json(), 'the same envelope, word for word')

  await emailedToken(app, user.email, 'reset-password')
  t.same(await emailsTo(nobody), [], 'nothing is sent to an address without an account')
})

t.test('forgot-password is throttled per address asked for and per client', async (t) => {
  const target = address('target')
  const codes = []
  for (const ip of ['10.0.2.1', '10.0.2.2', '10.0.2.3', '10.0.2.4'])
    codes.push((await post('/auth/forgot-password', { email: target }, {}, ip)).statusCode)
  t.same(codes, [202, 202, 202, 429], 'the fourth ask for one address is refused, whoever asks')
  t.equal((await post('/auth/forgot-password', { email: address('other') }, {}, '10.0.2.4')).statusCode, 202, 'another address is fine')

  const client = []
  for (let i = 0; i < 7; i++) client.push((await post('/auth/forgot-password', { email: address('spray') }, {}, '10.0.3.1')).statusCode)
  t.same(client, [202, 202, 202, 202, 202, 202, 429], 'one client asking for many addresses is refused past its own budget')
  t.equal((await post('/auth/forgot-password', { email: address('spray') }, {}, '10.0.3.2')).statusCode, 202, 'another client is fine')
})

t.test('a reset link sets the password once, ends every session and verifies the address', async (t) => {
  const user = await signUp(address('forgetful'))
  const other = await login(app, user.email, user.password)
  await post('/auth/forgot-password', { email: user.email }, {}, '10.0.4.1')
  const token = await emailedToken(app, user.email, 'reset-password')

  const weak = await post('/auth/reset-password', { token, password: 'short' })
  t.equal(weak.statusCode, 400)
  t.match(weak.json().error, /at least 10 characters/, 'the registration rules apply')

  const reset = await post('/auth/reset-password', { token, password: 'Brand-New-Pass-7' })
  t.equal(reset.statusCode, 204, 'a refused password left the token usable')
  t.equal((await me(user.headers)).statusCode, 401, 'the access tokens of every session stop')
  t.equal((await me(bearer(other.accessToken))).statusCode, 401)
  t.equal((await post('/auth/refresh', { refreshToken: other.refreshToken })).statusCode, 401, 'and their refresh tokens')
  await t.rejects(login(app, user.email, user.password), /401/, 'the old password is gone')
  const fresh = await login(app, user.email, 'Brand-New-Pass-7')
  t.equal((await me(bearer(fresh.accessToken))).json().data.emailVerified, true, 'the link reached the address: it is verified')

  const reused = await post('/auth/reset-password', { token, password: 'Another-Pass-8' })
  t.equal(reused.statusCode, 400)
  t.equal(reused.json().code, 'INVALID_TOKEN', 'a used token is refused')
})

t.test('a reset link expires after PASSWORD_RESET_TTL_MINUTES', async (t) => {
  const user = await createUser(app, { email: address('slow') })
  await post('/auth/forgot-password', { email: user.email }, {}, '10.0.5.1')
  const token = await emailedToken(app, user.email, 'reset-password')
  moveClock(t, 30 * 60_000 + 1000)
  const res = await post('/auth/reset-password', { token, password: 'Brand-New-Pass-7' })
  t.equal(res.statusCode, 400)
  t.equal(res.json().code, 'INVALID_TOKEN')
  t.ok(await login(app, user.email, user.password), 'the password did not change')
})

t.test('changing the email: the current password, a link to the new address, the same answer when it is taken', async (t) => {
  const ada = await createUser(app, { email: address('ada') })
  const taken = await createUser(app, { email: address('taken') })
  const change = (payload: object, headers = ada.headers) => post(`/users/${ada.id}/email`, payload, headers)
  const otherSession = await login(app, ada.email, ada.password)

  // A reset link asked for earlier stops working once the email changes.
  await post('/auth/forgot-password', { email: ada.email }, {}, '10.0.6.1')
  const resetToken = await emailedToken(app, ada.email, 'reset-password')

  const missing = await change({ email: address('new') })
  t.equal(missing.statusCode, 400, 'the current password is required')
  const wrong = await change({ email: address('new'), currentPassword: 'Not-The-One-1' })
  t.equal(wrong.statusCode, 400)
  t.match(wrong.json().details, [{ field: 'currentPassword', message: 'is incorrect' }])

  const newEmail = address('ada-new')
  const free = await change({ email: newEmail, currentPassword: ada.password })
  const busy = await change({ email: taken.email, currentPassword: ada.password })
  t.equal(free.statusCode, 202)
  t.equal(busy.statusCode, 202, 'no 409 EMAIL_TAKEN')
  t.equal(free.json().data.message.replace(newEmail, '<new>'), busy.json().data.message.replace(taken.email, '<new>'), 'the same answer')
  t.same(await emailsTo(taken.email), ['email-change-refused'], 'the taken address is told someone tried, and gets no link')
  t.same((await emailsTo(ada.email)).filter((e) => e === 'email-change-requested').length, 2, 'the current address is told of each request')
  t.equal((await me(ada.headers)).json().data.email, ada.email, 'nothing changes before the new address confirms')

  const token = await emailedToken(app, newEmail, 'confirm-email-change')
  const confirmed = await post('/auth/confirm-email-change', { token })
  t.equal(confirmed.statusCode, 200)
  t.match(confirmed.json().data, { id: ada.id, email: newEmail, emailVerified: true })
  t.equal((await me(ada.headers)).statusCode, 401, 'the sessions end')
  t.equal((await me(bearer(otherSession.accessToken))).statusCode, 401)
  await t.rejects(login(app, ada.email, ada.password), /401/, 'the old address no longer logs in')
  t.ok(await login(app, newEmail, ada.password), 'the new one does')

  t.equal((await post('/auth/confirm-email-change', { token })).json().code, 'INVALID_TOKEN', 'the link works once')
  t.equal(
    (await post('/auth/reset-password', { token: resetToken, password: 'Brand-New-Pass-7' })).json().code,
    'INVALID_TOKEN',
    'the email change voided the reset link sent to the old address',
  )
})

t.test('the log transport writes the text (links included) only when told to: never in production', async (t) => {
  const lines: Record<string, unknown>[] = []
  const log = { info: (obj: Record<string, unknown>) => void lines.push(obj) } as unknown as FastifyBaseLogger
  const email = { from: 'a@example.test', to: 'b@example.test', subject: 'Hi', text: 'https://x.test/reset-password?token=abc' }
  await createTransport(undefined, log, { showText: true }).send(email)
  await createTransport(undefined, log, { showText: false }).send(email)
  t.equal(lines[0]!.text, email.text, 'development: the text and its link')
  t.notOk('text' in lines[1]!, 'production: recipient and subject only')
})

t.test('emails with links leave through the send-email job', async (t) => {
  // Sent by the send-email job: the outbox row is marked sent once the log transport took it.
  const user = await signUp()
  await waitFor(async () => (await app.sql`select 1 from email_outbox where "to" = ${user.email} and status = 'sent'`).length > 0, {
    what: 'the verification email to be sent',
  })
  t.pass('sent through the log transport')
})
