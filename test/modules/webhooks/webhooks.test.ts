// Webhooks end to end: subscriptions over HTTP, events from the real producers (products, orders)
// fanned out to the subscriptions whose owner may read them, signed deliveries to local receivers,
// retries, dead letters, replays, and owners disabled, demoted or deleted mid-way.
// One app for the file: tests run one after another, each deleting its subscriptions when done.
// The SSRF guard with private targets refused is ssrf.test.ts.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import type { EventDefinition } from '../../../plugins/events.js'
import { productUpdated } from '../../../modules/products/contract.js'
import { userDeleted } from '../../../modules/users/contract.js'
import { projectRoot } from '../../../src/lib/paths.js'
import { build } from '../../helpers/build.js'
import { createUser, type TestUser } from '../../helpers/auth.js'
import { product } from '../../helpers/marketplace.js'
import { waitFor } from '../../helpers/wait.js'
import { receiver, type Received } from './receiver.js'

type Test = { teardown: (fn: () => unknown) => void }

const MAX_PER_USER = 3
// Creating a webhook checks the current password against the failed-login budgets: five checks in
// flight at once would meet the growing delay (each holds a failure until it succeeds), so none here.
const app = await build(t, {
  WEBHOOK_MAX_ATTEMPTS: 3,
  WEBHOOK_TIMEOUT_MS: 1000,
  WEBHOOKS_MAX_PER_USER: MAX_PER_USER,
  RATE_LIMIT_LOGIN_DELAY_SECONDS: 0,
})
const admin = await createUser(app, { role: 'admin' })
const seller = await createUser(app)
const listing = await product(app, seller, { name: 'Lamp', priceCents: 1000, stock: 1000 })

interface DeliveryRow {
  id: string
  eventId: string
  event: string
  status: string
  attempts: number
  lastStatusCode: number | null
  lastError: string | null
  replayOf: string | null
}

const deliveriesOf = (webhookId: string) =>
  app.sql<DeliveryRow[]>`
    select id, event_id as "eventId", event, status, attempts, last_status_code as "lastStatusCode", last_error as "lastError",
      replay_of as "replayOf"
    from webhook_deliveries where webhook_id = ${webhookId} order by created_at, id`

const delivery = async (id: string) =>
  (
    await app.sql<DeliveryRow[]>`
      select id, event_id as "eventId", event, status, attempts, last_status_code as "lastStatusCode", last_error as "lastError",
        replay_of as "replayOf"
      from webhook_deliveries where id = ${id}`
  )[0]

/** Wait until the delivery reaches `status` (bounded). */
const until = (id: string, status: string, timeoutMs = 20_000) =>
  waitFor(
    async () => {
      const d = await delivery(id)
      return d?.status === status ? d : undefined
    },
    { what: `delivery ${id} to be ${status}`, timeoutMs },
  )

/** The subscription's `n`th delivery (1-based, oldest first), once the fan-out has made it. */
const nth = (webhookId: string, n = 1) =>
  waitFor(async () => (await deliveriesOf(webhookId))[n - 1], { what: `delivery ${n} of webhook ${webhookId}` })

/** Subscribe over HTTP; the subscription is deleted when the test ends. */
async function subscribe(t: Test, user: TestUser, url: string, events: string[]) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: user.headers,
    payload: { url, events, currentPassword: user.password },
  })
  if (res.statusCode !== 201) throw new Error(`subscribe failed: ${res.statusCode} ${res.body}`)
  const sub = res.json().data as { id: string; secret: string; url: string; events: string[] }
  t.teardown(() => app.sql`delete from webhook_subscriptions where id = ${sub.id}`)
  return sub
}

let price = listing.priceCents
/** A real product.updated: the seller changes the price over HTTP. */
async function changePrice(headers: Record<string, string> = {}) {
  const res = await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${listing.id}`,
    headers: { ...seller.headers, ...headers },
    payload: { priceCents: ++price },
  })
  if (res.statusCode !== 200) throw new Error(`PATCH product: ${res.statusCode} ${res.body}`)
}

/** A real order.created: the buyer orders the listing over HTTP. */
async function placeOrder(buyer: TestUser) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/orders',
    headers: buyer.headers,
    payload: { items: [{ productId: listing.id, quantity: 1 }] },
  })
  if (res.statusCode !== 201) throw new Error(`order: ${res.statusCode} ${res.body}`)
  return res.json().data as { id: string; userId: string; totalCents: number }
}

const asAdmin = (method: 'PATCH' | 'DELETE', userId: string, payload?: object) =>
  app.inject({ method, url: `/api/v1/users/${userId}`, headers: admin.headers, ...(payload ? { payload } : {}) })

const verify = (secret: string, r: Received) =>
  new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  })

/** The deliver-webhook job of a delivery has settled (completed: nothing more will be attempted). */
const jobCompleted = (deliveryId: string) =>
  waitFor(
    async () => {
      const [job] = await app.sql<{ state: string }[]>`
        select state::text from pgboss_v12.job where name = 'deliver-webhook' and data->>'deliveryId' = ${deliveryId}
        order by created_on desc limit 1`
      return job?.state === 'completed'
    },
    { what: `the deliver-webhook job of ${deliveryId} to complete` },
  )

t.test('subscriptions: create (secret shown once, not stored by caches), list own with totals, admin sees all, delete', async (t) => {
  const alice = await createUser(app)
  const bob = await createUser(app)

  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: alice.headers,
    payload: { url: 'https://example.test/hook', events: ['order.created', 'product.updated'], currentPassword: alice.password },
  })
  t.equal(res.statusCode, 201)
  const created = res.json().data
  t.teardown(() => app.sql`delete from webhook_subscriptions where id = ${created.id}`)
  t.equal(res.headers.location, `/api/v1/webhooks/${created.id}`)
  t.equal(res.headers['cache-control'], 'no-store', 'the response carries the secret')
  t.match(created, { ownerId: alice.id, url: 'https://example.test/hook', events: ['order.created', 'product.updated'] })
  t.match(created.secret, /^whsec_[A-Za-z0-9+/]{43}=$/)

  const list = (user: TestUser, query = '') => app.inject({ method: 'GET', url: `/api/v1/webhooks${query}`, headers: user.headers })
  const own = await list(alice)
  t.equal(own.statusCode, 200)
  t.same(
    own.json().data.map((w: { id: string }) => w.id),
    [created.id],
  )
  t.notOk('secret' in own.json().data[0], 'the secret is never shown again')
  t.match(own.json().meta, { total: 1, page: 1, limit: 20 })

  const adminTotal = async () => (await list(admin)).json().meta.total as number
  const before = await adminTotal()
  await subscribe(t, bob, 'https://example.test/bob', ['order.created'])
  t.equal(await adminTotal(), before + 1, 'a cached total follows a new subscription')
  const byEvent = await list(admin, '?event=product.updated')
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
  t.equal(res.headers.etag, '"1"', 'created with its ETag')
  t.equal(got.headers.etag, '"1"', 'a subscription is never changed: its ETag stays "1"')
  const unchanged = await app.inject({
    method: 'GET',
    url: `/api/v1/webhooks/${created.id}`,
    headers: { ...alice.headers, 'if-none-match': '"1"' },
  })
  t.equal(unchanged.statusCode, 304)
  t.equal(unchanged.body, '', 'no body')
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${created.id}`, headers: alice.headers })).statusCode, 204)
  t.equal((await app.inject({ method: 'GET', url: `/api/v1/webhooks/${created.id}`, headers: alice.headers })).statusCode, 404)
  t.match((await list(alice)).json(), { data: [], meta: { total: 0 } }, 'the cached total follows the delete')
  t.equal(await adminTotal(), before)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/webhooks' })).statusCode, 401)
})

t.test('a subscription names events from the catalog; bad URLs and empty lists are validation errors', async (t) => {
  const user = await createUser(app)
  const post = (payload: object) =>
    app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: user.headers, payload: { currentPassword: user.password, ...payload } })
  const unknown = await post({ url: 'https://example.test/', events: ['order.shipped'] })
  t.equal(unknown.statusCode, 400)
  t.equal(unknown.json().code, 'VALIDATION_ERROR')
  t.equal((await post({ url: 'ftp://example.test/', events: ['order.created'] })).statusCode, 400)
  t.equal((await post({ url: 'https://example.test/', events: [] })).statusCode, 400)

  const every = app.events.catalog().map((e) => e.name)
  t.ok(every.includes('user.registered') && every.includes('product.removed'))
  const all = await post({ url: 'https://example.test/all', events: every })
  t.equal(all.statusCode, 201, 'every declared event may be named')
  t.teardown(() => app.sql`delete from webhook_subscriptions where id = ${all.json().data.id}`)
})

t.test('the module README lists every event of the catalog with its audience', async (t) => {
  const table = (catalog: EventDefinition[]) =>
    [
      '| event | what happened | who receives it |',
      '|---|---|---|',
      ...[...catalog].sort((a, b) => a.name.localeCompare(b.name)).map((e) => `| \`${e.name}\` | ${e.description} | ${e.audienceText} |`),
    ].join('\n')
  const readme = readFileSync(join(projectRoot, 'modules', 'webhooks', 'README.md'), 'utf8')
  const documented = /<!-- EVENTS:START -->\n([\s\S]*?)\n<!-- EVENTS:END -->/.exec(readme)?.[1]
  t.equal(documented, table(app.events.catalog()), 'modules/webhooks/README.md: paste the expected table between the EVENTS markers')
})

t.test('webhooks per user are capped (WEBHOOKS_MAX_PER_USER), even when created at once', async (t) => {
  const user = await createUser(app)
  const results = await Promise.all(
    Array.from({ length: MAX_PER_USER + 2 }, (_, i) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/webhooks',
        headers: user.headers,
        payload: { url: `https://example.test/${i}`, events: ['product.updated'], currentPassword: user.password },
      }),
    ),
  )
  t.teardown(() => app.sql`delete from webhook_subscriptions where owner_id = ${user.id}`)
  t.equal(results.filter((r) => r.statusCode === 201).length, MAX_PER_USER)
  const refused = results.filter((r) => r.statusCode !== 201)
  t.equal(refused.length, 2)
  for (const r of refused) {
    t.equal(r.statusCode, 409)
    t.match(r.json(), { code: 'WEBHOOK_LIMIT_REACHED', error: /You have 3 webhooks/ })
  }
})

t.test("a product event reaches everyone, signed per Standard Webhooks; the producer's x-request-id stays inside Keel", async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t)
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  const other = await subscribe(t, user, `${hook.url}?other`, ['order.cancelled'])

  await changePrice({ 'x-request-id': 'req-chosen-by-another-client' })
  const first = await nth(sub.id)
  const done = await until(first.id, 'succeeded')
  t.match(done, { attempts: 1, lastStatusCode: 200, lastError: null })
  t.equal(hook.received.length, 1, 'one delivery: only the matching subscription')

  const req = hook.received[0]!
  t.equal(req.headers['content-type'], 'application/json')
  t.equal(req.headers['webhook-id'], first.id)
  t.equal(req.headers['x-request-id'], undefined, "another user's client chose that id: it does not travel to this receiver")
  t.notMatch(JSON.stringify(req.headers) + req.body, /req-chosen-by-another-client/)
  t.match(req.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/)
  const payload = verify(sub.secret, req) as { type: string; data: Record<string, unknown>; timestamp: string }
  t.equal(payload.type, 'product.updated')
  t.match(payload.data, { productId: listing.id, ownerId: seller.id, priceCents: price, changes: ['priceCents'] })
  t.ok(Date.parse(payload.timestamp))
  t.throws(() => verify(other.secret, req), 'another secret does not verify')
  t.throws(() => verify(sub.secret, { ...req, body: req.body.replace(`${price}`, '1') }), 'a tampered body does not verify')

  const log = (query = '') => app.inject({ method: 'GET', url: `/api/v1/webhooks/${sub.id}/deliveries${query}`, headers: user.headers })
  const list = await log()
  t.equal(list.statusCode, 200)
  t.match(list.json().data, [
    {
      id: first.id,
      eventId: first.eventId,
      event: 'product.updated',
      status: 'succeeded',
      attempts: 1,
      payload: { type: 'product.updated' },
    },
  ])
  t.notMatch(list.body, /req-chosen-by-another-client/, 'nor does the delivery log show it')
  t.match(list.json().meta, { total: 1 })

  await changePrice()
  await until((await nth(sub.id, 2)).id, 'succeeded')
  t.match((await log()).json().meta, { total: 2 }, 'the cached total follows new deliveries')
  const firstPage = (await log('?limit=1&cursor=')).json()
  t.equal(firstPage.data.length, 1)
  t.type(firstPage.meta.nextCursor, 'string', 'a keyset walk')
  const second = (await log(`?limit=1&cursor=${firstPage.meta.nextCursor}`)).json()
  t.equal(second.data[0].id, first.id, 'newest first: the first delivery comes second')
  t.equal(second.meta.nextCursor, null)
})

t.test("order events reach the buyer and staff: another user's webhook never sees them", async (t) => {
  const alice = await createUser(app)
  const bob = await createUser(app)
  const moderator = await createUser(app, { role: 'moderator' })
  const hooks = { alice: await receiver(t), bob: await receiver(t), moderator: await receiver(t), admin: await receiver(t) }
  const subs = {
    alice: await subscribe(t, alice, hooks.alice.url, ['order.created']),
    bob: await subscribe(t, bob, hooks.bob.url, ['order.created']),
    moderator: await subscribe(t, moderator, hooks.moderator.url, ['order.created']),
    admin: await subscribe(t, admin, hooks.admin.url, ['order.created']),
  }

  const order = await placeOrder(bob)
  // Every delivery of one event is written in one transaction: once one exists, all do.
  for (const who of ['bob', 'moderator', 'admin'] as const) {
    const d = await nth(subs[who].id)
    await until(d.id, 'succeeded')
    t.match(
      JSON.parse(hooks[who].received[0]!.body),
      { type: 'order.created', data: { id: order.id, userId: bob.id } },
      `${who} receives it`,
    )
  }
  t.equal(hooks.alice.received.length, 0, "alice's webhook received nothing of bob's order")
  t.same(await deliveriesOf(subs.alice.id), [])
  const aliceLog = await app.inject({ method: 'GET', url: `/api/v1/webhooks/${subs.alice.id}/deliveries`, headers: alice.headers })
  t.match(aliceLog.json(), { data: [], meta: { total: 0 } }, 'and her delivery log shows nothing of it')

  const own = await placeOrder(alice)
  await until((await nth(subs.alice.id)).id, 'succeeded')
  t.equal(hooks.alice.received.length, 1)
  t.match(JSON.parse(hooks.alice.received[0]!.body), { data: { id: own.id, userId: alice.id } }, 'her own order reaches her')
  await until((await nth(subs.admin.id, 2)).id, 'succeeded')
  t.equal(hooks.bob.received.length, 1, "bob's webhook does not see alice's order")
  t.equal((await deliveriesOf(subs.bob.id)).length, 1)
})

t.test('a fan-out that runs again delivers nothing twice', async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t)
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  const envelope = await app.events.publish(productUpdated, {
    productId: listing.id,
    ownerId: seller.id,
    name: listing.name,
    priceCents: price,
    stock: 1000,
    status: 'active',
    version: 99,
    changes: ['stock'],
  })
  await until((await nth(sub.id)).id, 'succeeded')

  // The same event again, as pg-boss would hand it over if the first job's completion was lost.
  await app.jobs.insert([{ name: 'webhooks.fan-out', data: envelope }])
  await waitFor(
    async () => {
      const jobs = await app.sql<{ state: string }[]>`
        select state::text from pgboss_v12.job where name = 'webhooks.fan-out' and data->>'id' = ${envelope.id}`
      return jobs.length === 2 && jobs.every((j) => j.state === 'completed')
    },
    { what: 'both fan-out jobs to complete' },
  )
  const rows = await deliveriesOf(sub.id)
  t.equal(rows.length, 1, 'one delivery for the event')
  t.equal(rows[0]!.eventId, envelope.id)
  t.equal(hook.received.length, 1)
})

t.test('events published in a rolled-back transaction are never delivered', async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t)
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  const payload = {
    productId: listing.id,
    ownerId: seller.id,
    name: 'Lamp',
    priceCents: 1,
    stock: 1,
    status: 'active' as const,
    version: 1,
    changes: [],
  }
  let rolledBack: string | undefined
  await app.db
    .transaction(async (tx) => {
      rolledBack = (await app.events.publish(productUpdated, { ...payload, name: 'rolled back' }, { tx })).id
      throw new Error('roll back')
    })
    .catch(() => {})
  t.ok(rolledBack)
  t.same(await app.sql`select 1 from pgboss_v12.job where data->>'id' = ${rolledBack!}`, [], 'no job for it')

  await app.db.transaction((tx) => app.events.publish(productUpdated, { ...payload, name: 'committed' }, { tx }))
  await until((await nth(sub.id)).id, 'succeeded')
  t.equal(hook.received.length, 1)
  t.match(JSON.parse(hook.received[0]!.body), { data: { name: 'committed' } })
  t.equal((await deliveriesOf(sub.id)).length, 1)
})

t.test('a 500 is retried with backoff, then delivered (same webhook-id, fresh signature)', async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t, (n) => ({ status: n === 1 ? 500 : 204 }))
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  await changePrice()
  const done = await until((await nth(sub.id)).id, 'succeeded')
  t.match(done, { attempts: 2, lastStatusCode: 204 })
  t.equal(hook.received.length, 2)
  t.equal(hook.received[0]!.headers['webhook-id'], hook.received[1]!.headers['webhook-id'])
  t.ok(verify(sub.secret, hook.received[1]!))
})

t.test('a network timeout is retried', async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t, (n) => (n === 1 ? 'hang' : { status: 200 }))
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  await changePrice()
  const done = await until((await nth(sub.id)).id, 'succeeded')
  t.equal(done.attempts, 2)
  t.equal(hook.received.length, 2)
})

t.test('a 429 with Retry-After is retried no sooner than asked', async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t, (n) => (n === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 }))
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  await changePrice()
  const done = await until((await nth(sub.id)).id, 'succeeded')
  t.equal(done.attempts, 2)
  const waited = hook.received[1]!.at - hook.received[0]!.at
  t.ok(waited >= 1900, `waited ${waited} ms for a Retry-After of 2 s`)
})

t.test('a delivery that keeps failing is dead after WEBHOOK_MAX_ATTEMPTS', async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t, () => ({ status: 503 }))
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  await changePrice()
  const { id } = await nth(sub.id)
  const dead = await until(id, 'dead', 30_000)
  t.match(dead, { attempts: 3, lastStatusCode: 503 })
  t.equal(hook.received.length, 3)
  await waitFor(
    async () =>
      (
        await app.sql`select 1 from pgboss_v12.job where name = 'deliver-webhook-dead' and data->>'deliveryId' = ${id} and state = 'completed'`
      ).length === 1,
    { what: 'the dead-letter job' },
  )
})

t.test('a 4xx is not retried; a replay sends the payload again as a new delivery; each attempt moves its ETag', async (t) => {
  const user = await createUser(app)
  const stranger = await createUser(app)
  const hook = await receiver(t, () => ({ status: 410 }))
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  await changePrice()
  const { id, eventId } = await nth(sub.id)
  const failed = await until(id, 'failed')
  t.match(failed, { attempts: 1, lastStatusCode: 410 })
  t.equal(hook.received.length, 1, 'not retried')

  hook.set(() => ({ status: 200 }))
  const replayUrl = `/api/v1/webhooks/${sub.id}/deliveries/${id}/replay`
  t.equal((await app.inject({ method: 'POST', url: replayUrl, headers: stranger.headers })).statusCode, 404)
  const res = await app.inject({ method: 'POST', url: replayUrl, headers: user.headers })
  t.equal(res.statusCode, 202)
  const replay = res.json().data
  t.equal(res.headers.location, `/api/v1/webhooks/${sub.id}/deliveries/${replay.id}`)
  t.match(replay, { status: 'pending', replayOf: id, eventId, event: 'product.updated' })
  await until(replay.id, 'succeeded')
  t.equal(hook.received.length, 2)
  t.equal(hook.received[1]!.body, hook.received[0]!.body, 'the same payload')

  const byStatus = await app.inject({ method: 'GET', url: `/api/v1/webhooks/${sub.id}/deliveries?status=failed`, headers: user.headers })
  t.same(
    byStatus.json().data.map((d: { id: string }) => d.id),
    [id],
  )
  // The replay was answered at version 1, pending; its attempt moved the ETag on.
  t.equal(res.headers.etag, '"1"')
  t.equal(replay.version, 1)
  const get = (url: string, ifNoneMatch: string) =>
    app.inject({ method: 'GET', url, headers: { ...user.headers, 'if-none-match': ifNoneMatch } })
  const one = await get(res.headers.location as string, '"1"')
  t.equal(one.statusCode, 200, 'the pending copy is stale')
  t.equal(one.headers.etag, '"2"')
  t.match(one.json().data, { status: 'succeeded', attempts: 1, version: 2 })
  const current = await get(res.headers.location as string, '"2"')
  t.equal(current.statusCode, 304)
  t.equal(current.body, '', 'no body')
  t.equal(current.headers.etag, '"2"')
  t.equal((await get(`/api/v1/webhooks/${sub.id}/deliveries/${id}`, '"2"')).statusCode, 304, 'the original: one attempt, version 2')
})

t.test('deleting a subscription stops its pending deliveries', async (t) => {
  const user = await createUser(app)
  const hook = await receiver(t, () => ({ status: 500 }))
  const sub = await subscribe(t, user, hook.url, ['product.updated'])
  await changePrice()
  const { id } = await nth(sub.id)
  await waitFor(() => hook.received.length >= 1, { what: 'the first attempt' })
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${sub.id}`, headers: user.headers })).statusCode, 204)
  t.equal(await delivery(id), undefined)
  await jobCompleted(id) // the retry finds nothing to do
  t.equal(hook.received.length, 1)
})

t.test("a disabled owner's webhooks stop at once: a pending delivery fails unsent, new events make none", async (t) => {
  const owner = await createUser(app)
  const witness = await createUser(app)
  const hook = await receiver(t, (n) => ({ status: n === 1 ? 500 : 200 }))
  const control = await receiver(t)
  const sub = await subscribe(t, owner, hook.url, ['product.updated'])
  const watch = await subscribe(t, witness, control.url, ['product.updated'])

  await changePrice()
  const { id } = await nth(sub.id)
  await waitFor(async () => (await delivery(id))?.attempts === 1, { what: 'the first (failed) attempt' })
  // Disabled between the fan-out and the retry.
  t.equal((await asAdmin('PATCH', owner.id, { status: 'disabled' })).statusCode, 200)
  const failed = await until(id, 'failed')
  t.match(failed, { attempts: 1, lastError: "not sent: the subscription's owner is disabled" })
  t.equal(hook.received.length, 1, 'the retry was not sent')

  await changePrice()
  await until((await nth(watch.id, 2)).id, 'succeeded')
  t.equal((await deliveriesOf(sub.id)).length, 1, 'no delivery for an event after the owner was disabled')

  // Enabled again, the subscription receives new events.
  t.equal((await asAdmin('PATCH', owner.id, { status: 'active' })).statusCode, 200)
  await changePrice()
  await until((await nth(sub.id, 2)).id, 'succeeded')
  t.equal(hook.received.length, 2)
})

t.test('a delivery fails unsent when its owner lost the role that let it receive the event', async (t) => {
  const moderator = await createUser(app, { role: 'moderator' })
  const buyer = await createUser(app)
  const hook = await receiver(t, (n) => ({ status: n === 1 ? 503 : 200 }))
  const sub = await subscribe(t, moderator, hook.url, ['order.created'])

  await placeOrder(buyer)
  const { id } = await nth(sub.id)
  await waitFor(async () => (await delivery(id))?.attempts === 1, { what: 'the first (failed) attempt' })
  t.equal((await asAdmin('PATCH', moderator.id, { role: 'user' })).statusCode, 200)
  const failed = await until(id, 'failed')
  t.match(failed.lastError, /^not sent: the subscription's owner \(role user\) is not in the audience of order\.created$/)
  t.equal(hook.received.length, 1)
})

t.test("a deleted owner's webhooks stop at once, and user.deleted removes them", async (t) => {
  const owner = await createUser(app)
  const witness = await createUser(app)
  const hook = await receiver(t, (n) => ({ status: n === 1 ? 500 : 200 }))
  const control = await receiver(t)
  const sub = await subscribe(t, owner, hook.url, ['product.updated'])
  const watch = await subscribe(t, witness, control.url, ['product.updated'])

  await changePrice()
  const { id } = await nth(sub.id)
  await waitFor(async () => (await delivery(id))?.attempts === 1, { what: 'the first (failed) attempt' })
  t.equal((await asAdmin('DELETE', owner.id)).statusCode, 204)
  await jobCompleted(id)
  t.equal(hook.received.length, 1, 'the retry was not sent')
  // Failed unsent — or already gone with its subscription, if the deletion's user.deleted got there first.
  const after = await delivery(id)
  if (after) t.match(after, { status: 'failed', lastError: "not sent: the subscription's owner no longer exists" })

  await changePrice()
  await until((await nth(watch.id, 2)).id, 'succeeded')
  t.ok((await deliveriesOf(sub.id)).length <= 1, 'no delivery for an event after the owner was deleted')
  t.equal(hook.received.length, 1)

  await app.events.publish(userDeleted, { userId: owner.id })
  await waitFor(async () => (await app.sql`select 1 from webhook_subscriptions where owner_id = ${owner.id}`).length === 0, {
    what: "the deleted user's subscriptions to go",
  })
  const listed = await app.inject({ method: 'GET', url: '/api/v1/webhooks', headers: admin.headers })
  t.notOk(
    listed.json().data.some((w: { id: string }) => w.id === sub.id),
    'an admin no longer sees it',
  )
  t.notOk(listed.json().data.some((w: { ownerId: string }) => w.ownerId === owner.id))
})

t.test('cloud metadata targets are refused even with WEBHOOK_ALLOW_PRIVATE=true', async (t) => {
  const user = await createUser(app)
  for (const url of [
    'http://169.254.169.254/latest/meta-data',
    'http://[fd00:ec2::254]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://100.100.100.200/',
  ]) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      headers: user.headers,
      payload: { url, events: ['product.updated'], currentPassword: user.password },
    })
    t.equal(res.statusCode, 400, url)
    t.equal(res.json().code, 'UNSAFE_WEBHOOK_URL', url)
  }

  // One already stored (say, created before the rule) is refused at delivery, before any connection.
  const [row] = await app.sql<{ id: string }[]>`insert into webhook_subscriptions (id, owner_id, url, events, secret)
    values (gen_random_uuid(), ${user.id}, 'http://169.254.169.254/latest/meta-data', ${['product.updated']}, 'whsec_c2VjcmV0')
    returning id`
  t.teardown(() => app.sql`delete from webhook_subscriptions where id = ${row!.id}`)
  await changePrice()
  const failed = await until((await nth(row!.id)).id, 'failed')
  t.match(failed, {
    attempts: 1,
    lastStatusCode: null,
    lastError: 'refused to connect: the host does not resolve to public addresses only',
  })
})
