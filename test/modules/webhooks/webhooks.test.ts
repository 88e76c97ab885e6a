import t from 'tap'
import { Webhook } from 'standardwebhooks'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { createUser, type TestUser } from '../../helpers/auth.js'
import { waitFor } from '../../helpers/wait.js'
import { publishEvent } from '../../../modules/webhooks/contract.js'
import { receiver, type Received } from './receiver.js'

interface DeliveryRow {
  id: string
  status: string
  attempts: number
  lastStatusCode: number | null
  lastError: string | null
  replayOf: string | null
}

const delivery = async (app: FastifyInstance, id: string) => {
  const rows = await app.sql<DeliveryRow[]>`
    select id, status, attempts, last_status_code as "lastStatusCode", last_error as "lastError", replay_of as "replayOf"
    from webhook_deliveries where id = ${id}`
  return rows[0]
}

/** Wait until the delivery reaches `status` (bounded). */
const until = (app: FastifyInstance, id: string, status: string, timeoutMs = 20_000) =>
  waitFor(
    async () => {
      const d = await delivery(app, id)
      return d?.status === status ? d : undefined
    },
    { what: `delivery ${id} to be ${status}`, timeoutMs },
  )

async function subscribe(app: FastifyInstance, user: TestUser, url: string, events = ['order.created']) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: user.headers, payload: { url, events } })
  if (res.statusCode !== 201) throw new Error(`subscribe failed: ${res.statusCode} ${res.body}`)
  return res.json().data as { id: string; secret: string; url: string; events: string[] }
}

const verify = (secret: string, r: Received) =>
  new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  })

t.test('subscriptions: create (secret shown once), list own, admin sees all, delete', async (t) => {
  const app = await build(t)
  const alice = await createUser(app)
  const bob = await createUser(app)
  const admin = await createUser(app, { role: 'admin' })

  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: alice.headers,
    payload: { url: 'https://example.test/hook', events: ['order.created', 'product.updated'] },
  })
  t.equal(res.statusCode, 201)
  const created = res.json().data
  t.equal(res.headers.location, `/api/v1/webhooks/${created.id}`)
  t.match(created, { ownerId: alice.id, url: 'https://example.test/hook', events: ['order.created', 'product.updated'], active: true })
  t.match(created.secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  await subscribe(app, bob, 'https://example.test/bob')

  const own = await app.inject({ method: 'GET', url: '/api/v1/webhooks', headers: alice.headers })
  t.equal(own.statusCode, 200)
  t.same(
    own.json().data.map((w: { id: string }) => w.id),
    [created.id],
  )
  t.notOk('secret' in own.json().data[0], 'the secret is never shown again')
  t.match(own.json().meta, { total: 1 })

  const all = await app.inject({ method: 'GET', url: '/api/v1/webhooks', headers: admin.headers })
  t.equal(all.json().meta.total, 2)

  const byEvent = await app.inject({ method: 'GET', url: '/api/v1/webhooks?event=product.updated', headers: admin.headers })
  t.same(
    byEvent.json().data.map((w: { id: string }) => w.id),
    [created.id],
  )

  t.equal(
    (await app.inject({ method: 'GET', url: `/api/v1/webhooks/${created.id}`, headers: bob.headers })).statusCode,
    404,
    "others don't see it",
  )
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${created.id}`, headers: bob.headers })).statusCode, 404)
  const got = await app.inject({ method: 'GET', url: `/api/v1/webhooks/${created.id}`, headers: alice.headers })
  t.equal(got.statusCode, 200)
  t.notOk('secret' in got.json().data)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${created.id}`, headers: alice.headers })).statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: `/api/v1/webhooks/${created.id}`, headers: alice.headers })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/webhooks' })).statusCode, 401)
})

t.test('subscriptions: bad events and non-http URLs are validation errors', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const badEvent = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: user.headers,
    payload: { url: 'https://example.test/', events: ['user.deleted'] },
  })
  t.equal(badEvent.statusCode, 400)
  t.equal(badEvent.json().code, 'VALIDATION_ERROR')
  const ftp = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: user.headers,
    payload: { url: 'ftp://example.test/', events: ['order.created'] },
  })
  t.equal(ftp.statusCode, 400)
  const none = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: user.headers,
    payload: { url: 'https://example.test/', events: [] },
  })
  t.equal(none.statusCode, 400)
})

t.test('an event is delivered signed per Standard Webhooks, with the originating request id', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const hook = await receiver(t)
  const sub = await subscribe(app, user, hook.url, ['order.created'])
  const other = await subscribe(app, user, `${hook.url}?other`, ['product.updated'])

  const [id, ...more] = await publishEvent(app, { type: 'order.created', data: { orderId: 'o-1', totalCents: 1200 }, requestId: 'req-abc' })
  t.equal(more.length, 0, 'one delivery: only the matching subscription')
  const done = await until(app, id!, 'succeeded')
  t.match(done, { attempts: 1, lastStatusCode: 200, lastError: null })

  t.equal(hook.received.length, 1)
  const req = hook.received[0]!
  t.equal(req.headers['content-type'], 'application/json')
  t.equal(req.headers['webhook-id'], id)
  t.equal(req.headers['x-request-id'], 'req-abc')
  t.match(req.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/)
  const payload = verify(sub.secret, req) as { type: string; data: unknown; timestamp: string }
  t.equal(payload.type, 'order.created')
  t.same(payload.data, { orderId: 'o-1', totalCents: 1200 })
  t.throws(() => verify(other.secret, req), 'another secret does not verify')
  t.throws(() => verify(sub.secret, { ...req, body: req.body.replace('1200', '1') }), 'a tampered body does not verify')

  const list = await app.inject({ method: 'GET', url: `/api/v1/webhooks/${sub.id}/deliveries`, headers: user.headers })
  t.equal(list.statusCode, 200)
  t.match(list.json().data, [
    { id, event: 'order.created', status: 'succeeded', attempts: 1, requestId: 'req-abc', payload: { type: 'order.created' } },
  ])
  t.match(list.json().meta, { total: 1 })
})

t.test('events published in a rolled-back transaction are never delivered', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const hook = await receiver(t)
  await subscribe(app, user, hook.url)
  let ids: string[] = []
  await app.db
    .transaction(async (tx) => {
      ids = await publishEvent(app, { type: 'order.created', data: { n: 1 } }, tx)
      throw new Error('roll back')
    })
    .catch(() => {})
  t.equal(ids.length, 1)
  t.equal(await delivery(app, ids[0]!), undefined, 'no delivery row')
  const jobs = await app.sql`select 1 from pgboss.job where name = 'deliver-webhook'`
  t.equal(jobs.length, 0, 'no job')
  // The committed one (postgres.js transaction) is delivered.
  const [committed] = await app.sql.begin((sql) => publishEvent(app, { type: 'order.created', data: { n: 2 } }, sql))
  await until(app, committed!, 'succeeded')
  t.equal(hook.received.length, 1)
  t.match(hook.received[0]!.body, /"n":2/)
})

t.test('a 500 is retried with backoff, then delivered (same webhook-id, fresh signature)', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const hook = await receiver(t, (n) => ({ status: n === 1 ? 500 : 204 }))
  const sub = await subscribe(app, user, hook.url)
  const [id] = await publishEvent(app, { type: 'order.created', data: {} })
  const done = await until(app, id!, 'succeeded')
  t.match(done, { attempts: 2, lastStatusCode: 204 })
  t.equal(hook.received.length, 2)
  t.equal(hook.received[0]!.headers['webhook-id'], hook.received[1]!.headers['webhook-id'])
  t.ok(verify(sub.secret, hook.received[1]!))
})

t.test('a network timeout is retried', async (t) => {
  const app = await build(t, { WEBHOOK_TIMEOUT_MS: 300 })
  const user = await createUser(app)
  const hook = await receiver(t, (n) => (n === 1 ? 'hang' : { status: 200 }))
  await subscribe(app, user, hook.url)
  const [id] = await publishEvent(app, { type: 'order.created', data: {} })
  const done = await until(app, id!, 'succeeded')
  t.equal(done.attempts, 2)
  t.equal(hook.received.length, 2)
})

t.test('a 429 with Retry-After is retried no sooner than asked', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const hook = await receiver(t, (n) => (n === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 }))
  await subscribe(app, user, hook.url)
  const [id] = await publishEvent(app, { type: 'order.created', data: {} })
  const done = await until(app, id!, 'succeeded')
  t.equal(done.attempts, 2)
  const waited = hook.received[1]!.at - hook.received[0]!.at
  t.ok(waited >= 1900, `waited ${waited} ms for a Retry-After of 2 s`)
})

t.test('a delivery that keeps failing is dead after WEBHOOK_MAX_ATTEMPTS', async (t) => {
  const app = await build(t, { WEBHOOK_MAX_ATTEMPTS: 3 })
  const user = await createUser(app)
  const hook = await receiver(t, () => ({ status: 503 }))
  await subscribe(app, user, hook.url)
  const [id] = await publishEvent(app, { type: 'order.created', data: {} })
  const dead = await until(app, id!, 'dead', 30_000)
  t.match(dead, { attempts: 3, lastStatusCode: 503 })
  t.equal(hook.received.length, 3)
  await waitFor(async () => (await app.jobs.stats())['deliver-webhook-dead']!.completed === 1, { what: 'the dead-letter job' })
})

t.test('a 4xx is not retried; a replay sends the payload again as a new delivery', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const stranger = await createUser(app)
  const hook = await receiver(t, () => ({ status: 410 }))
  const sub = await subscribe(app, user, hook.url)
  const [id] = await publishEvent(app, { type: 'order.created', data: { orderId: 'o-9' } })
  const failed = await until(app, id!, 'failed')
  t.match(failed, { attempts: 1, lastStatusCode: 410 })
  t.equal(hook.received.length, 1, 'not retried')

  hook.set(() => ({ status: 200 }))
  const forbidden = await app.inject({
    method: 'POST',
    url: `/api/v1/webhooks/${sub.id}/deliveries/${id}/replay`,
    headers: stranger.headers,
  })
  t.equal(forbidden.statusCode, 404)
  const res = await app.inject({ method: 'POST', url: `/api/v1/webhooks/${sub.id}/deliveries/${id}/replay`, headers: user.headers })
  t.equal(res.statusCode, 202)
  const replay = res.json().data
  t.equal(res.headers.location, `/api/v1/webhooks/${sub.id}/deliveries/${replay.id}`)
  t.match(replay, { status: 'pending', replayOf: id, event: 'order.created' })
  await until(app, replay.id, 'succeeded')
  t.equal(hook.received.length, 2)
  t.same(JSON.parse(hook.received[1]!.body).data, { orderId: 'o-9' })

  const byStatus = await app.inject({ method: 'GET', url: `/api/v1/webhooks/${sub.id}/deliveries?status=failed`, headers: user.headers })
  t.same(
    byStatus.json().data.map((d: { id: string }) => d.id),
    [id],
  )
  const one = await app.inject({ method: 'GET', url: res.headers.location as string, headers: user.headers })
  t.equal(one.json().data.status, 'succeeded')
})

t.test('deleting a subscription stops its pending deliveries', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  const hook = await receiver(t, () => ({ status: 500 }))
  const sub = await subscribe(app, user, hook.url)
  const [id] = await publishEvent(app, { type: 'order.created', data: {} })
  await waitFor(() => hook.received.length >= 1, { what: 'the first attempt' })
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${sub.id}`, headers: user.headers })).statusCode, 204)
  t.equal(await delivery(app, id!), undefined)
  // The retry job finds nothing to do and completes.
  await waitFor(
    async () => {
      const [job] = await app.sql<
        { state: string }[]
      >`select state::text from pgboss.job where name = 'deliver-webhook' and data->>'deliveryId' = ${id!}`
      return job?.state === 'completed'
    },
    { what: 'the retry job to complete' },
  )
  t.equal(hook.received.length, 1)
})

t.test('SSRF guard (WEBHOOK_ALLOW_PRIVATE=false): private targets are refused at subscription and at delivery', async (t) => {
  const app = await build(t, { WEBHOOK_ALLOW_PRIVATE: false })
  const user = await createUser(app)
  const hook = await receiver(t)
  for (const url of [
    hook.url,
    'http://localhost:8080/',
    'http://[::1]/x',
    'http://169.254.169.254/latest/meta-data',
    'http://10.1.2.3/',
    'http://192.168.1.1/',
    'http://[fd00::1]/',
    'http://[::ffff:127.0.0.1]/',
  ]) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      headers: user.headers,
      payload: { url, events: ['order.created'] },
    })
    t.equal(res.statusCode, 400, url)
    t.equal(res.json().code, 'UNSAFE_WEBHOOK_URL', url)
    t.equal(res.json().details[0].field, 'url')
  }
  const publicIp = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: user.headers,
    payload: { url: 'https://93.184.216.34/hook', events: ['order.created'] },
  })
  t.equal(publicIp.statusCode, 201, 'a public address is accepted')

  // A subscription whose target became private after it was created (DNS change): refused at delivery.
  await app.sql`delete from webhook_subscriptions`
  await app.sql`insert into webhook_subscriptions (id, owner_id, url, events, secret)
    values (gen_random_uuid(), ${user.id}, ${hook.url}, ${['order.created']}, 'whsec_c2VjcmV0')`
  const [id] = await publishEvent(app, { type: 'order.created', data: {} })
  const failed = await until(app, id!, 'failed')
  t.match(failed.lastError, /non-public address 127\.0\.0\.1/)
  t.equal(hook.received.length, 0, 'nothing reached the private address')
})
