// Managing a webhook after it exists, and what its owner sees of its deliveries: each attempt listed,
// PATCH (URL under the SSRF guard, events, pause and resume) with If-Match, secret rotation with an
// overlap (two signatures), subscriptions disabled for failing, payloads only for an owner still in
// the event's audience, and errors that never name the address connected to.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { build } from '../../helpers/build.js'
import { createUser, type TestUser } from '../../helpers/auth.js'
import { product } from '../../helpers/marketplace.js'
import { waitFor } from '../../helpers/wait.js'
import { receiver, type Received } from './receiver.js'

type Test = { teardown: (fn: () => unknown) => void }

const DISABLE_AFTER = 3
const app = await build(t, { WEBHOOK_MAX_ATTEMPTS: 3, WEBHOOK_TIMEOUT_MS: 1000, WEBHOOK_DISABLE_AFTER_FAILURES: DISABLE_AFTER })
const admin = await createUser(app, { role: 'admin' })
const seller = await createUser(app)
const listing = await product(app, seller, { name: 'Lamp', priceCents: 1000, stock: 1000 })

interface DeliveryRow {
  id: string
  status: string
  attempts: number
  lastError: string | null
  payload: unknown
}
const deliveriesOf = (webhookId: string) =>
  app.sql<DeliveryRow[]>`
    select id, status, attempts, last_error as "lastError", payload from webhook_deliveries where webhook_id = ${webhookId} order by created_at, id`
const nth = (webhookId: string, n = 1) =>
  waitFor(async () => (await deliveriesOf(webhookId))[n - 1], { what: `delivery ${n} of webhook ${webhookId}` })
const until = (webhookId: string, id: string, status: string) =>
  waitFor(async () => (await deliveriesOf(webhookId)).find((d) => d.id === id && d.status === status), {
    what: `delivery ${id} to be ${status}`,
  })

async function subscribe(t: Test, user: TestUser, url: string, events: string[]) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: user.headers,
    payload: { url, events, currentPassword: user.password },
  })
  if (res.statusCode !== 201) throw new Error(`subscribe failed: ${res.statusCode} ${res.body}`)
  const sub = res.json().data as { id: string; secret: string }
  t.teardown(() => app.sql`delete from webhook_subscriptions where id = ${sub.id}`)
  return sub
}

let price = listing.priceCents
async function changePrice() {
  const res = await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${listing.id}`,
    headers: seller.headers,
    payload: { priceCents: ++price },
  })
  if (res.statusCode !== 200) throw new Error(`PATCH product: ${res.statusCode} ${res.body}`)
}

const api = (user: TestUser, method: 'GET' | 'PATCH' | 'POST', url: string, payload?: object, headers: Record<string, string> = {}) =>
  app.inject({ method, url: `/api/v1/webhooks${url}`, headers: { ...user.headers, ...headers }, ...(payload ? { payload } : {}) })

const verify = (secret: string, r: Received) =>
  new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  })

t.test('every attempt of a delivery is listed: when, status code, duration, error, the start of the answer', async (t) => {
  const user = await createUser(app)
  const stranger = await createUser(app)
  const long = `${'x'.repeat(1500)}END`
  const hook = await receiver(t, (n) => (n === 1 ? { status: 500, body: long } : { status: 200, body: 'thanks' }))
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  await changePrice()
  const { id } = await nth(sub.id)
  await until(sub.id, id, 'succeeded')

  const url = `/${sub.id}/deliveries/${id}/attempts`
  const res = await api(user, 'GET', url)
  t.equal(res.statusCode, 200)
  const attempts = res.json().data
  t.equal(attempts.length, 2, 'the failed attempt is kept beside the one that succeeded')
  t.match(attempts[0], { attempt: 1, statusCode: 500, error: 'HTTP 500', durationMs: Number, startedAt: String })
  t.equal(attempts[0].responseBody, 'x'.repeat(1024), 'a bounded excerpt of the answer')
  t.match(attempts[1], { attempt: 2, statusCode: 200, error: null, responseBody: 'thanks' })
  t.ok(Date.parse(attempts[0].startedAt) <= Date.parse(attempts[1].startedAt))

  t.equal((await api(stranger, 'GET', url)).statusCode, 404, "someone else's delivery is not found")
  t.equal((await api(admin, 'GET', url)).statusCode, 200, 'an admin sees it')
  t.equal((await api(user, 'GET', `/${sub.id}/deliveries/${sub.id}/attempts`)).statusCode, 404)
})

t.test('a failed attempt never names the address or port it connected to', async (t) => {
  const user = await createUser(app)
  // A port nobody listens on: connection refused, whose message would name 127.0.0.1:<port>.
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const { port } = closed.address() as AddressInfo
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const sub = await subscribe(t, user, `http://127.0.0.1:${port}/hook`, ['product.updated'])
  await changePrice()
  const { id } = await nth(sub.id)
  const failed = await waitFor(async () => (await deliveriesOf(sub.id)).find((d) => d.attempts >= 1), { what: 'the first attempt' })
  t.equal(failed.lastError, 'ECONNREFUSED: connection refused')
  const res = await api(user, 'GET', `/${sub.id}/deliveries/${id}/attempts`)
  t.equal(res.json().data[0].error, 'ECONNREFUSED: connection refused')
  t.notMatch(res.body, new RegExp(`127\\.0\\.0\\.1:${port}|:${port}\\b`), 'neither address nor port')
  t.notMatch((await api(user, 'GET', `/${sub.id}/deliveries/${id}`)).body, /127\.0\.0\.1/)
})

t.test('PATCH changes the URL (SSRF guard applies) and the events, with If-Match like every PATCH', async (t) => {
  const user = await createUser(app)
  const stranger = await createUser(app)
  const first = await receiver(t)
  const second = await receiver(t)
  const sub = await subscribe(t, user, first.url, ['order.created'])

  const patch = (payload: object, headers: Record<string, string> = {}, who = user) => api(who, 'PATCH', `/${sub.id}`, payload, headers)
  t.equal((await patch({ url: second.url }, {}, stranger)).statusCode, 404, "someone else's webhook is not found")
  const unsafe = await patch({ url: 'http://169.254.169.254/latest/meta-data' })
  t.equal(unsafe.statusCode, 400)
  t.equal(unsafe.json().code, 'UNSAFE_WEBHOOK_URL')
  t.equal((await patch({ events: ['no.such-event'] })).statusCode, 400, 'only catalogued events')
  t.equal((await patch({})).statusCode, 400, 'nothing to change')
  t.equal((await patch({ secret: 'whsec_mine' })).statusCode, 400, 'the secret is not written by PATCH')

  const stale = await patch({ url: second.url }, { 'if-match': '"7"' })
  t.equal(stale.statusCode, 412)
  t.equal(stale.json().code, 'PRECONDITION_FAILED')
  const changed = await patch({ url: second.url, events: ['product.updated'] }, { 'if-match': '"1"' })
  t.equal(changed.statusCode, 200)
  t.equal(changed.headers.etag, '"2"')
  t.match(changed.json().data, { url: second.url, events: ['product.updated'], active: true, version: 2 })
  t.equal((await patch({ active: true }, { 'if-match': '"1"' })).statusCode, 412, 'the version moved on')

  await changePrice()
  await waitFor(() => second.received.length === 1, { what: 'a delivery to the new URL' })
  t.equal(first.received.length, 0, 'the old URL gets nothing')
  t.ok(verify(sub.secret, second.received[0]!), 'signed with the same secret')
  const got = await api(user, 'GET', `/${sub.id}`)
  t.equal(got.headers.etag, '"2"')
})

t.test('a paused subscription queues nothing; resuming does not replay what was skipped', async (t) => {
  const user = await createUser(app)
  const witness = await createUser(app)
  const hook = await receiver(t)
  const control = await receiver(t)
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  const watch = await subscribe(t, witness, control.url, ['product.updated'])

  const paused = await api(user, 'PATCH', `/${sub.id}`, { active: false })
  t.equal(paused.statusCode, 200)
  t.match(paused.json().data, { active: false, disabledReason: null })
  await changePrice()
  // The witness's delivery is written in the same fan-out as the paused one would be.
  await nth(watch.id)
  t.same(await deliveriesOf(sub.id), [], 'nothing queued while paused')

  const resumed = await api(user, 'PATCH', `/${sub.id}`, { active: true })
  t.match(resumed.json().data, { active: true })
  await changePrice()
  const next = await nth(sub.id)
  await until(sub.id, next.id, 'succeeded')
  t.equal((await deliveriesOf(sub.id)).length, 1, 'only the event after resuming')
  t.equal(hook.received.length, 1)
  t.equal(JSON.parse(hook.received[0]!.body).data.priceCents, price)
})

t.test('a retry pending when its subscription is paused is not sent; once resumed, a replay sends it', async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t, (n) => ({ status: n === 1 ? 503 : 200 }))
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  await changePrice()
  const { id } = await nth(sub.id)
  await waitFor(async () => (await deliveriesOf(sub.id))[0]?.attempts === 1, { what: 'the first (failed) attempt' })
  t.equal((await api(user, 'PATCH', `/${sub.id}`, { active: false })).statusCode, 200)
  const failed = await until(sub.id, id, 'failed')
  t.equal(failed.lastError, 'not sent: the subscription is paused')
  t.equal(hook.received.length, 1, 'the retry was not sent')

  t.equal((await api(user, 'PATCH', `/${sub.id}`, { active: true })).statusCode, 200)
  const replay = await api(user, 'POST', `/${sub.id}/deliveries/${id}/replay`)
  t.equal(replay.statusCode, 202)
  await until(sub.id, replay.json().data.id, 'succeeded')
  t.equal(hook.received.length, 2)
})

t.test('rotating the secret: shown once; both secrets sign during the overlap, then only the new one', async (t) => {
  const user = await createUser(app)
  const stranger = await createUser(app)
  const hook = await receiver(t)
  const sub = await subscribe(t, user, hook.url, ['product.updated'])

  t.equal((await api(stranger, 'POST', `/${sub.id}/rotate-secret`)).statusCode, 404)
  const byAdmin = await api(admin, 'POST', `/${sub.id}/rotate-secret`)
  t.equal(byAdmin.statusCode, 403, "an admin never receives another user's secret")
  t.notMatch(byAdmin.body, /whsec_/)
  t.equal((await api(user, 'POST', `/${sub.id}/rotate-secret`, undefined, { 'if-match': '"9"' })).statusCode, 412)
  const res = await api(user, 'POST', `/${sub.id}/rotate-secret`, undefined, { 'if-match': '"1"' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(res.headers.etag, '"2"')
  const rotated = res.json().data
  t.match(rotated.secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  t.not(rotated.secret, sub.secret)
  const overlapEnds = Date.parse(rotated.previousSecretExpiresAt)
  t.ok(overlapEnds > Date.now() + (app.config.WEBHOOK_SECRET_OVERLAP_SECONDS - 60) * 1000, 'the old secret signs for the overlap')
  t.notOk('secret' in (await api(user, 'GET', `/${sub.id}`)).json().data, 'never shown again')

  await changePrice()
  await waitFor(() => hook.received.length === 1, { what: 'a delivery during the overlap' })
  const during = hook.received[0]!
  t.equal(String(during.headers['webhook-signature']).split(' ').length, 2, 'two signatures')
  t.ok(verify(rotated.secret, during), 'the new secret verifies')
  t.ok(verify(sub.secret, during), 'and so does the old one')

  await app.sql`update webhook_subscriptions set previous_secret_expires_at = now() - interval '1 second' where id = ${sub.id}`
  await changePrice()
  await waitFor(() => hook.received.length === 2, { what: 'a delivery after the overlap' })
  const after = hook.received[1]!
  t.equal(String(after.headers['webhook-signature']).split(' ').length, 1)
  t.ok(verify(rotated.secret, after))
  t.throws(() => verify(sub.secret, after), 'the old secret no longer verifies')
})

t.test('a subscription that keeps failing is disabled, says why, and its owner re-enables it', async (t) => {
  const user = await createUser(app)
  const witness = await createUser(app)
  const hook = await receiver(t, () => ({ status: 410 })) // a final answer: each delivery fails at once
  const control = await receiver(t)
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  const watch = await subscribe(t, witness, control.url, ['product.updated'])
  const inbox = await receiver(t)
  await subscribe(t, user, inbox.url, ['webhook.disabled'])
  const strangersInbox = await receiver(t)
  await subscribe(t, witness, strangersInbox.url, ['webhook.disabled'])

  for (let n = 1; n <= DISABLE_AFTER; n++) {
    await changePrice()
    const d = await nth(sub.id, n)
    await until(sub.id, d.id, 'failed')
  }
  const got = (await api(user, 'GET', `/${sub.id}`)).json().data
  t.match(got, { active: false, consecutiveFailures: DISABLE_AFTER })
  t.match(got.disabledReason, /^failed 3 attempts in a row \(the last: HTTP 410/)
  const told = await waitFor(() => inbox.received[0], { what: 'the owner to be told' })
  t.match(JSON.parse(told.body), {
    type: 'webhook.disabled',
    data: { webhookId: sub.id, ownerId: user.id, url: hook.url, consecutiveFailures: DISABLE_AFTER, reason: got.disabledReason },
  })

  await changePrice()
  await nth(watch.id, DISABLE_AFTER + 1)
  t.equal((await deliveriesOf(sub.id)).length, DISABLE_AFTER, 'a disabled subscription queues nothing')
  t.equal(hook.received.length, DISABLE_AFTER)
  t.equal(strangersInbox.received.length, 0, "another user is not told of someone else's webhook")

  hook.set(() => ({ status: 200 }))
  const enabled = await api(user, 'PATCH', `/${sub.id}`, { active: true })
  t.match(enabled.json().data, { active: true, disabledReason: null, consecutiveFailures: 0 })
  await changePrice()
  const next = await nth(sub.id, DISABLE_AFTER + 1)
  await until(sub.id, next.id, 'succeeded')
})

t.test('payloads: not kept when the audience refuses a delivery, and shown only to an owner still in the audience', async (t) => {
  const moderator = await createUser(app, { role: 'moderator' })
  const buyer = await createUser(app)
  const hook = await receiver(t, (n) => ({ status: n === 2 ? 503 : 200 }))
  const sub = await subscribe(t, moderator, hook.url, ['order.created', 'user.registered'])
  const order = async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/orders',
      headers: buyer.headers,
      payload: { items: [{ productId: listing.id, quantity: 1 }] },
    })
    t.equal(res.statusCode, 201)
  }

  await order()
  const sent = await nth(sub.id)
  await until(sub.id, sent.id, 'succeeded')
  await order()
  const refused = await nth(sub.id, 2)
  await waitFor(async () => (await deliveriesOf(sub.id))[1]?.attempts === 1, { what: 'the first (failed) attempt' })

  const demoted = await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${moderator.id}`,
    headers: admin.headers,
    payload: { role: 'user' },
  })
  t.equal(demoted.statusCode, 200)
  const failed = await until(sub.id, refused.id, 'failed')
  t.match(failed.lastError, /^not sent: .* not in the audience of order\.created$/)
  t.equal(failed.payload, null, 'a delivery refused by the audience keeps no payload')

  const log = (await api(moderator, 'GET', `/${sub.id}/deliveries`)).json().data as { id: string; payload: unknown }[]
  t.equal(log.length, 2, 'the demoted owner still sees its deliveries')
  t.ok(
    log.every((d) => d.payload === null),
    'but none of their payloads',
  )
  t.equal((await api(moderator, 'GET', `/${sub.id}/deliveries/${sent.id}`)).json().data.payload, null)
  const replay = await api(moderator, 'POST', `/${sub.id}/deliveries/${sent.id}/replay`)
  t.equal(replay.statusCode, 409)
  t.equal(replay.json().code, 'DELIVERY_NOT_REPLAYABLE')

  t.equal(
    (await app.inject({ method: 'PATCH', url: `/api/v1/users/${moderator.id}`, headers: admin.headers, payload: { role: 'moderator' } }))
      .statusCode,
    200,
  )
  const shown = (await api(moderator, 'GET', `/${sub.id}/deliveries/${sent.id}`)).json().data
  t.match(shown.payload, { type: 'order.created' }, 'back in the audience, the owner sees the payload again')
  t.equal((await api(moderator, 'GET', `/${sub.id}/deliveries/${refused.id}`)).json().data.payload, null, 'what was not kept stays gone')
})
