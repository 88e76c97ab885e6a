// Orders: placing (one transaction: stock, prices, items, order.created), Idempotency-Key replays and
// their expiry, concurrency, who sees which orders, cancelling, and the fixed cost of a page.
// One app for the file; the statement count runs on an API-only app of its own (no workers on its pool).
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { account, product, type Account } from '../../helpers/marketplace.js'

const order = (app: FastifyInstance, buyer: Account, items: { productId: string; quantity: number }[], key?: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/orders',
    headers: { ...buyer.headers, ...(key ? { 'idempotency-key': key } : {}) },
    payload: { items },
  })

const stockOf = async (app: FastifyInstance, id: string) =>
  (await app.inject({ method: 'GET', url: `/api/v1/products/${id}` })).json().data.stock as number

/** The events published about an order (as queued for their subscribers, one envelope each). */
const eventsAbout = async (app: FastifyInstance, orderId: string) =>
  (
    await app.sql<{ data: { id: string; type: string; data: { id: string; userId: string } } }[]>`
      select distinct on (data->>'id') data from pgboss_v12.job where data->>'type' like 'order.%' and data->'data'->>'id' = ${orderId}`
  ).map((r) => r.data)

const app = await build(t)

t.test("placing an order takes the stock, records today's prices and totals them", async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const lamp = await product(app, seller, { name: 'Lamp', priceCents: 1500, stock: 5 })
  const desk = await product(app, seller, { name: 'Desk', priceCents: 20000, stock: 2 })
  t.equal(await stockOf(app, lamp.id), 5, 'read once, so the product is in the cache')

  const res = await order(app, buyer, [
    { productId: lamp.id, quantity: 2 },
    { productId: desk.id, quantity: 1 },
  ])
  t.equal(res.statusCode, 201)
  const placed = res.json().data
  t.equal(res.headers.location, `/api/v1/orders/${placed.id}`)
  t.match(placed, { userId: buyer.id, status: 'confirmed', totalCents: 2 * 1500 + 20000 })
  t.same(placed.items, [
    { productId: lamp.id, productName: 'Lamp', quantity: 2, unitPriceCents: 1500 },
    { productId: desk.id, productName: 'Desk', quantity: 1, unitPriceCents: 20000 },
  ])
  t.equal(await stockOf(app, lamp.id), 3, 'the cached product was invalidated after commit')
  t.equal(await stockOf(app, desk.id), 1)

  // A later price change does not touch the order.
  await app.inject({ method: 'PATCH', url: `/api/v1/products/${lamp.id}`, headers: seller.headers, payload: { priceCents: 9 } })
  const got = await app.inject({ method: 'GET', url: `/api/v1/orders/${placed.id}`, headers: buyer.headers })
  t.equal(got.statusCode, 200)
  t.same(got.json().data, placed)
})

t.test('order.created and order.cancelled go to the buyer and staff, never to the seller or other users', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const p = await product(app, seller, { stock: 5 })
  const placed = (await order(app, buyer, [{ productId: p.id, quantity: 1 }])).json().data
  t.equal((await app.inject({ method: 'POST', url: `/api/v1/orders/${placed.id}/cancel`, headers: buyer.headers })).statusCode, 200)
  const events = await eventsAbout(app, placed.id)
  t.same(events.map((e) => e.type).sort(), ['order.cancelled', 'order.created'])
  for (const event of events) {
    t.match(event.data, { id: placed.id, userId: buyer.id, items: [{ productId: p.id, quantity: 1 }] })
    t.ok(app.events.mayReceive(event, { id: buyer.id, role: 'user' }), `${event.type}: the buyer`)
    t.ok(app.events.mayReceive(event, { id: seller.id, role: 'moderator' }), `${event.type}: moderators`)
    t.ok(app.events.mayReceive(event, { id: seller.id, role: 'admin' }), `${event.type}: admins`)
    t.notOk(app.events.mayReceive(event, { id: seller.id, role: 'user' }), `${event.type}: not the seller`)
  }
})

t.test('not enough stock: 409 INSUFFICIENT_STOCK naming the product, and nothing is taken', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const plenty = await product(app, seller, { stock: 10 })
  const scarce = await product(app, seller, { stock: 1 })
  const res = await order(app, buyer, [
    { productId: plenty.id, quantity: 3 },
    { productId: scarce.id, quantity: 2 },
  ])
  t.equal(res.statusCode, 409)
  const body = res.json()
  t.equal(body.code, 'INSUFFICIENT_STOCK')
  t.match(body.error, scarce.id)
  t.match(body.details, [{ field: 'items.1.productId', productId: scarce.id, available: 1 }])
  t.equal(await stockOf(app, plenty.id), 10, "the first line's reservation was rolled back")
  t.equal(await stockOf(app, scarce.id), 1)
  const list = await app.inject({ method: 'GET', url: '/api/v1/orders', headers: buyer.headers })
  t.equal(list.json().meta.total, 0, 'no order row was left behind')
})

t.test('unknown, inactive, empty and repeated items are 422', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const p = await product(app, seller, { stock: 10 })
  const off = await product(app, seller, { stock: 10, status: 'inactive' })
  const unknown = '0190a0a0-0000-7000-8000-000000000000'

  const cases: [string, { productId: string; quantity: number }[], string][] = [
    [
      'unknown product',
      [
        { productId: p.id, quantity: 1 },
        { productId: unknown, quantity: 1 },
      ],
      'PRODUCT_UNAVAILABLE',
    ],
    ['inactive product', [{ productId: off.id, quantity: 1 }], 'PRODUCT_UNAVAILABLE'],
    ['empty list', [], 'UNPROCESSABLE_ENTITY'],
    [
      'repeated product',
      [
        { productId: p.id, quantity: 1 },
        { productId: p.id, quantity: 2 },
      ],
      'UNPROCESSABLE_ENTITY',
    ],
  ]
  for (const [name, items, code] of cases) {
    const res = await order(app, buyer, items)
    t.equal(res.statusCode, 422, name)
    t.equal(res.json().code, code, name)
  }
  t.equal(await stockOf(app, p.id), 10)
  const pricey = await product(app, seller, { stock: 10_000, priceCents: 100_000_000 })
  const huge = await order(app, buyer, [{ productId: pricey.id, quantity: 100 }])
  t.equal(huge.statusCode, 422, 'a total beyond what an integer holds')
  t.equal(await stockOf(app, pricey.id), 10_000, 'and its stock was given back')
  const zero = await order(app, buyer, [{ productId: p.id, quantity: 0 }])
  t.equal(zero.statusCode, 400, 'a zero quantity is a validation error')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/orders', payload: { items: [] } })).statusCode, 401)
})

t.test('Idempotency-Key: a retry gets the first response, a different body is 422', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const other = await account(app)
  const p = await product(app, seller, { stock: 10 })
  const items = [{ productId: p.id, quantity: 2 }]

  const first = await order(app, buyer, items, 'key-1')
  t.equal(first.statusCode, 201)
  t.equal(first.headers['idempotent-replayed'], undefined)
  const retry = await order(app, buyer, items, 'key-1')
  t.equal(retry.statusCode, 201)
  t.equal(retry.headers['idempotent-replayed'], 'true')
  t.equal(retry.headers.location, first.headers.location)
  t.same(retry.json(), first.json())
  t.equal(await stockOf(app, p.id), 8, 'the stock was taken once')
  t.same(
    (await eventsAbout(app, first.json().data.id)).map((e) => e.type),
    ['order.created'],
    'and order.created published once',
  )

  const changed = await order(app, buyer, [{ productId: p.id, quantity: 3 }], 'key-1')
  t.equal(changed.statusCode, 422)
  t.equal(changed.json().code, 'IDEMPOTENCY_KEY_REUSED')

  const someoneElse = await order(app, other, items, 'key-1')
  t.equal(someoneElse.statusCode, 201, 'keys are per user')
  t.not(someoneElse.json().data.id, first.json().data.id)

  // A failed request is not remembered: the same key may be retried once it can succeed.
  const tooMany = await order(app, buyer, [{ productId: p.id, quantity: 50 }], 'key-2')
  t.equal(tooMany.statusCode, 409)
  await app.inject({ method: 'PATCH', url: `/api/v1/products/${p.id}`, headers: seller.headers, payload: { stock: 60 } })
  t.equal((await order(app, buyer, [{ productId: p.id, quantity: 50 }], 'key-2')).statusCode, 201)
  t.equal(await stockOf(app, p.id), 10)
})

t.test('concurrent retries with one Idempotency-Key create one order', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const p = await product(app, seller, { stock: 100 })
  const results = await Promise.all(Array.from({ length: 10 }, () => order(app, buyer, [{ productId: p.id, quantity: 3 }], 'double-click')))
  t.same(
    results.map((r) => r.statusCode),
    Array(10).fill(201),
  )
  t.equal(new Set(results.map((r) => r.json().data.id)).size, 1, 'every answer names the same order')
  t.equal(results.filter((r) => r.headers['idempotent-replayed'] !== 'true').length, 1, 'one request did the work')
  t.equal(await stockOf(app, p.id), 97)
  const list = await app.inject({ method: 'GET', url: '/api/v1/orders', headers: buyer.headers })
  t.equal(list.json().meta.total, 1)
})

t.test('20 concurrent orders for a stock of 5: exactly 5 succeed and the stock ends at 0', async (t) => {
  const seller = await account(app)
  const buyers = await Promise.all(Array.from({ length: 4 }, () => account(app)))
  const p = await product(app, seller, { stock: 5 })
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => order(app, buyers[i % 4]!, [{ productId: p.id, quantity: 1 }])))
  const codes = results.map((r) => r.statusCode)
  t.equal(codes.filter((c) => c === 201).length, 5, codes.join(','))
  t.equal(codes.filter((c) => c === 409).length, 15)
  t.ok(results.filter((r) => r.statusCode === 409).every((r) => r.json().code === 'INSUFFICIENT_STOCK'))
  t.equal(await stockOf(app, p.id), 0)
  const [row] = await app.sql<{ n: number }[]>`select count(*)::int as n from order_items where product_id = ${p.id}`
  t.equal(row?.n, 5, 'five orders hold it')
})

t.test('who sees which orders: buyers their own, moderators all; others get 404', async (t) => {
  const seller = await account(app)
  const alice = await account(app)
  const bob = await account(app)
  const moderator = await account(app, 'moderator')
  const p = await product(app, seller, { stock: 10 })
  const a = (await order(app, alice, [{ productId: p.id, quantity: 1 }])).json().data
  await order(app, bob, [{ productId: p.id, quantity: 1 }])
  await order(app, bob, [{ productId: p.id, quantity: 1 }])

  const own = await app.inject({ method: 'GET', url: '/api/v1/orders', headers: alice.headers })
  t.equal(own.json().meta.total, 1)
  t.same(
    own.json().data.map((o: { id: string }) => o.id),
    [a.id],
  )
  const sneaky = await app.inject({ method: 'GET', url: `/api/v1/orders?userId=${bob.id}`, headers: alice.headers })
  t.same(
    sneaky.json().data.map((o: { userId: string }) => o.userId),
    [alice.id],
    "a user cannot list somebody else's orders",
  )

  const all = await app.inject({ method: 'GET', url: '/api/v1/orders?sort=-createdAt&limit=3', headers: moderator.headers })
  t.same(
    new Set(all.json().data.map((o: { userId: string }) => o.userId)),
    new Set([alice.id, bob.id]),
    "a moderator sees everybody's orders (here, the newest three)",
  )
  const bobs = await app.inject({ method: 'GET', url: `/api/v1/orders?userId=${bob.id}`, headers: moderator.headers })
  t.equal(bobs.json().meta.total, 2)

  t.equal((await app.inject({ method: 'GET', url: `/api/v1/orders/${a.id}`, headers: bob.headers })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: `/api/v1/orders/${a.id}`, headers: moderator.headers })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/orders' })).statusCode, 401)
})

t.test('cancelling gives the stock back once; a cancelled order is 409', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const other = await account(app)
  const p = await product(app, seller, { stock: 5 })
  const placed = (await order(app, buyer, [{ productId: p.id, quantity: 4 }])).json().data
  t.equal(await stockOf(app, p.id), 1)

  t.equal((await app.inject({ method: 'POST', url: `/api/v1/orders/${placed.id}/cancel`, headers: other.headers })).statusCode, 404)
  const cancel = await app.inject({ method: 'POST', url: `/api/v1/orders/${placed.id}/cancel`, headers: buyer.headers })
  t.equal(cancel.statusCode, 200)
  t.equal(cancel.json().data.status, 'cancelled')
  t.equal(await stockOf(app, p.id), 5)

  const twice = await app.inject({ method: 'POST', url: `/api/v1/orders/${placed.id}/cancel`, headers: buyer.headers })
  t.equal(twice.statusCode, 409)
  t.equal(twice.json().code, 'ORDER_NOT_CANCELLABLE')
  t.equal(await stockOf(app, p.id), 5)
  const cancelled = await app.inject({ method: 'GET', url: '/api/v1/orders?status=cancelled', headers: buyer.headers })
  t.equal(cancelled.json().meta.total, 1)
})

t.test('an order carries its version as an ETag: If-None-Match gives 304 until the cancel moves it', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const p = await product(app, seller, { stock: 5 })
  const placed = await order(app, buyer, [{ productId: p.id, quantity: 1 }])
  t.equal(placed.headers.etag, '"1"', 'the new order answers with its ETag')
  t.equal(placed.json().data.version, 1)
  const url = `/api/v1/orders/${placed.json().data.id}`
  const get = (ifNoneMatch?: string) =>
    app.inject({ method: 'GET', url, headers: { ...buyer.headers, ...(ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {}) } })

  const first = await get()
  t.equal(first.statusCode, 200)
  t.equal(first.headers.etag, '"1"')
  const unchanged = await get('"1"')
  t.equal(unchanged.statusCode, 304)
  t.equal(unchanged.body, '', 'no body')
  t.equal(unchanged.headers.etag, '"1"')

  const cancel = await app.inject({ method: 'POST', url: `${url}/cancel`, headers: buyer.headers })
  t.equal(cancel.headers.etag, '"2"', 'the cancel answers with the new ETag')
  t.equal(cancel.json().data.version, 2)
  const stale = await get('"1"')
  t.equal(stale.statusCode, 200, 'the copy from before the cancel is stale')
  t.equal(stale.headers.etag, '"2"')
  t.match(stale.json().data, { status: 'cancelled', version: 2 })
  t.equal((await get('"2"')).statusCode, 304)
})

t.test('a replay of a response stored before orders had a version answers version 1 and its ETag', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const p = await product(app, seller, { stock: 5 })
  const items = [{ productId: p.id, quantity: 1 }]
  const first = (await order(app, buyer, items, 'before-versions')).json().data
  await app.sql`update idempotency_keys set response_body = response_body - 'version' where user_id = ${buyer.id}`
  const retry = await order(app, buyer, items, 'before-versions')
  t.equal(retry.statusCode, 201)
  t.equal(retry.headers['idempotent-replayed'], 'true')
  t.equal(retry.headers.etag, '"1"')
  t.same(retry.json().data, first)
})

t.test('GET /orders runs the same number of SQL statements for 1 order and for 50', async (t) => {
  // ROLE=api: no workers share the pool, so every statement counted is the request's own.
  const app = await build(t, { ROLE: 'api' })
  const seller = await account(app)
  const few = await account(app)
  const many = await account(app)
  const products = await Promise.all(Array.from({ length: 3 }, (_, i) => product(app, seller, { stock: 1000, name: `P${i}` })))
  await order(
    app,
    few,
    products.map((p) => ({ productId: p.id, quantity: 1 })),
  )
  for (let i = 0; i < 50; i++)
    await order(
      app,
      many,
      products.map((p) => ({ productId: p.id, quantity: 1 })),
    )

  // postgres.js calls options.debug for every statement it sends on the app's pool.
  const options = app.sql.options as unknown as { debug: unknown }
  const statements = async (buyer: Account) => {
    await app.inject({ method: 'GET', url: '/api/v1/orders?limit=50', headers: buyer.headers }) // warm the auth-state cache
    await app.cache.invalidateCounts('orders') // and measure with the count computed, not cached
    const seen: string[] = []
    options.debug = (_connection: number, query: string) => seen.push(query)
    const res = await app.inject({ method: 'GET', url: '/api/v1/orders?limit=50', headers: buyer.headers })
    options.debug = false
    t.equal(res.statusCode, 200)
    return { seen, body: res.json() }
  }
  const one = await statements(few)
  const fifty = await statements(many)
  t.equal(one.body.data.length, 1)
  t.equal(fifty.body.data.length, 50)
  t.ok(
    fifty.body.data.every((o: { items: unknown[] }) => o.items.length === 3),
    'every order has its items',
  )
  t.equal(fifty.body.meta.total, 51 - 1)
  t.equal(one.seen.length, fifty.seen.length, `same statement count (${one.seen.length} vs ${fifty.seen.length})`)
  // (The total is counted while the page is read: the order the statements arrive in may differ.)
  t.same([...one.seen].sort(), [...fifty.seen].sort(), 'and the very same statements (one array parameter, not one per order)')
  t.ok(fifty.seen.length <= 3, `page + items + count at most: ${fifty.seen.join(' | ')}`)
})

t.test('an Idempotency-Key is forgotten after IDEMPOTENCY_TTL_HOURS, and the hourly job purges it', async (t) => {
  const seller = await account(app)
  const buyer = await account(app)
  const p = await product(app, seller, { stock: 10 })
  const place = (key: string) => order(app, buyer, [{ productId: p.id, quantity: 1 }], key)
  const age = (key: string) =>
    app.sql`update idempotency_keys set created_at = now() - interval '25 hours' where user_id = ${buyer.id} and key = ${key}`

  const first = (await place('old')).json().data
  await place('fresh')
  await age('old')

  const later = await place('old')
  t.equal(later.statusCode, 201)
  t.not(later.json().data.id, first.id, 'an expired key starts a new order')
  t.equal(later.headers['idempotent-replayed'], undefined)

  await age('old')
  const job = app.jobs.definitions.get('orders.purge-idempotency-keys')
  t.ok(job, 'the purge job is registered')
  await job!.handler({}, { id: 'test', retryCount: 0, retryLimit: 0, isFinalAttempt: true, log: app.log })
  const keys = await app.sql<{ key: string }[]>`select key from idempotency_keys where user_id = ${buyer.id} order by key`
  t.same(
    keys.map((k) => k.key),
    ['fresh'],
  )
})
