import t from 'tap'
import { build } from '../../helpers/build.js'
import { account, product } from '../../helpers/marketplace.js'

t.test('a seller creates a product: 201, Location, ETag, owned by the caller', async (t) => {
  const app = await build(t)
  const anonymous = await app.inject({ method: 'POST', url: '/api/v1/products', payload: { name: 'Lamp', priceCents: 100 } })
  t.equal(anonymous.statusCode, 401)

  const seller = await account(app)
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: seller.headers,
    payload: { name: 'Lamp', priceCents: 1999, stock: 3 },
  })
  t.equal(res.statusCode, 201)
  const body = res.json().data
  t.equal(res.headers.location, `/api/v1/products/${body.id}`)
  t.equal(res.headers.etag, '"1"')
  t.match(body, { name: 'Lamp', priceCents: 1999, stock: 3, status: 'active', ownerId: seller.id, version: 1, description: '' })

  const got = await app.inject({ method: 'GET', url: res.headers.location as string })
  t.equal(got.statusCode, 200)
  t.same(got.json().data, body)
})

t.test('GET answers 304 to a current If-None-Match and 200 once the product changed', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const p = await product(app, seller)
  const first = await app.inject({ method: 'GET', url: `/api/v1/products/${p.id}` })
  const etag = first.headers.etag as string
  const again = await app.inject({ method: 'GET', url: `/api/v1/products/${p.id}`, headers: { 'if-none-match': etag } })
  t.equal(again.statusCode, 304)
  t.equal(again.body, '')
  t.equal(again.headers.etag, etag)

  await app.inject({ method: 'PATCH', url: `/api/v1/products/${p.id}`, headers: seller.headers, payload: { priceCents: 5 } })
  const changed = await app.inject({ method: 'GET', url: `/api/v1/products/${p.id}`, headers: { 'if-none-match': etag } })
  t.equal(changed.statusCode, 200)
  t.equal(changed.json().data.priceCents, 5, 'the cached copy was invalidated by the write')
  t.not(changed.headers.etag, etag)
})

t.test('PUT replaces every field and refuses a partial body; PATCH changes only what it names', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const p = await product(app, seller, { description: 'old' })

  const partial = await app.inject({
    method: 'PUT',
    url: `/api/v1/products/${p.id}`,
    headers: seller.headers,
    payload: { name: 'New', priceCents: 1 },
  })
  t.equal(partial.statusCode, 400)
  t.equal(partial.json().code, 'VALIDATION_ERROR')
  t.ok(
    partial.json().details.some((d: { field: string }) => d.field === 'stock'),
    'names a missing field',
  )

  const full = { name: 'New', description: 'new', priceCents: 1, stock: 0, status: 'inactive' }
  const put = await app.inject({ method: 'PUT', url: `/api/v1/products/${p.id}`, headers: seller.headers, payload: full })
  t.equal(put.statusCode, 200)
  t.match(put.json().data, { ...full, version: 2 })
  t.equal(put.headers.etag, '"2"')

  const patch = await app.inject({ method: 'PATCH', url: `/api/v1/products/${p.id}`, headers: seller.headers, payload: { stock: 7 } })
  t.match(patch.json().data, { ...full, stock: 7, version: 3 })

  const empty = await app.inject({ method: 'PATCH', url: `/api/v1/products/${p.id}`, headers: seller.headers, payload: {} })
  t.equal(empty.statusCode, 400)
  const removed = await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${p.id}`,
    headers: seller.headers,
    payload: { status: 'removed' },
  })
  t.equal(removed.statusCode, 400, 'removed is set only by DELETE')
})

t.test('If-Match: a stale ETag is 412, the current one succeeds', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const p = await product(app, seller)
  const url = `/api/v1/products/${p.id}`
  const ok1 = await app.inject({ method: 'PATCH', url, headers: { ...seller.headers, 'if-match': '"1"' }, payload: { name: 'A' } })
  t.equal(ok1.statusCode, 200)
  const stale = await app.inject({ method: 'PATCH', url, headers: { ...seller.headers, 'if-match': '"1"' }, payload: { name: 'B' } })
  t.equal(stale.statusCode, 412)
  t.equal(stale.json().code, 'PRECONDITION_FAILED')
  const stalePut = await app.inject({
    method: 'PUT',
    url,
    headers: { ...seller.headers, 'if-match': 'W/"1"' },
    payload: { name: 'B', description: '', priceCents: 1, stock: 1, status: 'active' },
  })
  t.equal(stalePut.statusCode, 412)
  const current = await app.inject({
    method: 'PATCH',
    url,
    headers: { ...seller.headers, 'if-match': ok1.headers.etag as string },
    payload: { name: 'C' },
  })
  t.equal(current.statusCode, 200)
  t.equal(current.json().data.name, 'C')
})

t.test('concurrent updates with the same If-Match: exactly one wins, the others get 412', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const p = await product(app, seller)
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      app.inject({
        method: 'PATCH',
        url: `/api/v1/products/${p.id}`,
        headers: { ...seller.headers, 'if-match': '"1"' },
        payload: { stock: i },
      }),
    ),
  )
  const codes = results.map((r) => r.statusCode).sort()
  t.equal(codes.filter((c) => c === 200).length, 1, `one winner (${codes.join(',')})`)
  t.equal(codes.filter((c) => c === 412).length, 7)
  const winner = results.find((r) => r.statusCode === 200)!.json().data
  const now = (await app.inject({ method: 'GET', url: `/api/v1/products/${p.id}` })).json().data
  t.equal(now.stock, winner.stock)
  t.equal(now.version, 2)
})

t.test('ownership: a user changes only their own products; moderators change and remove any', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const other = await account(app)
  const moderator = await account(app, 'moderator')
  const p = await product(app, seller)
  const url = `/api/v1/products/${p.id}`

  const foreign = await app.inject({ method: 'PATCH', url, headers: other.headers, payload: { priceCents: 1 } })
  t.equal(foreign.statusCode, 403)
  t.equal(foreign.json().code, 'FORBIDDEN')
  const ownDelete = await app.inject({ method: 'DELETE', url, headers: seller.headers })
  t.equal(ownDelete.statusCode, 403, 'a user has no delete permission')

  const moderated = await app.inject({ method: 'PATCH', url, headers: moderator.headers, payload: { status: 'inactive' } })
  t.equal(moderated.statusCode, 200)
  t.equal(moderated.json().data.ownerId, seller.id, 'the owner does not change')

  const del = await app.inject({ method: 'DELETE', url, headers: moderator.headers })
  t.equal(del.statusCode, 204)
  t.equal(del.body, '')
  t.equal((await app.inject({ method: 'GET', url })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url, headers: moderator.headers })).statusCode, 404)
  const list = await app.inject({ method: 'GET', url: '/api/v1/products' })
  t.equal(list.json().meta.total, 0, 'a removed product leaves the list and its total')
})

t.test('an unknown or malformed id is 404 / 400', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/products/0190a0a0-0000-7000-8000-000000000000' })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/products/nope' })).statusCode, 400)
})

t.test('without If-Match an update applies to the current version, even while orders take its stock', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const buyer = await account(app)
  const p = await product(app, seller, { stock: 200, priceCents: 100 })
  const url = `/api/v1/products/${p.id}`
  // 20 price changes race 20 orders that each take one unit (and bump the version).
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => [
      app.inject({ method: 'PATCH', url, headers: seller.headers, payload: { priceCents: 1000 + i } }),
      app.inject({ method: 'POST', url: '/api/v1/orders', headers: buyer.headers, payload: { items: [{ productId: p.id, quantity: 1 }] } }),
    ]).flat(),
  )
  const patches = results.filter((_, i) => i % 2 === 0).map((r) => r.statusCode)
  const orders = results.filter((_, i) => i % 2 === 1).map((r) => r.statusCode)
  t.same([...new Set(patches)], [200], 'every PATCH without a precondition is applied, none is refused')
  t.same([...new Set(orders)], [201], 'every order is placed')
  const now = (await app.inject({ method: 'GET', url })).json().data
  t.equal(now.stock, 180, 'no order lost its stock decrement to a PATCH that did not name the stock')
  t.ok(now.priceCents >= 1000 && now.priceCents < 1020, 'the price is one of the PATCHed ones')
  t.equal(now.version, 41, 'every write moved the version on')
})

t.test('If-Match with * or a list of tags: * applies, a list applies when it holds the current version', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const p = await product(app, seller)
  const url = `/api/v1/products/${p.id}`
  const any = await app.inject({ method: 'PATCH', url, headers: { ...seller.headers, 'if-match': '*' }, payload: { name: 'Any' } })
  t.equal(any.statusCode, 200)
  const listed = await app.inject({
    method: 'PUT',
    url,
    headers: { ...seller.headers, 'if-match': '"7", "2"' },
    payload: { name: 'Listed', description: '', priceCents: 5, stock: 1, status: 'active' },
  })
  t.equal(listed.statusCode, 200)
  t.equal(listed.headers.etag, '"3"')
  const garbage = await app.inject({ method: 'PATCH', url, headers: { ...seller.headers, 'if-match': 'nonsense' }, payload: { name: 'X' } })
  t.equal(garbage.statusCode, 412, 'a tag that names no version matches nothing')
  t.equal(garbage.json().code, 'PRECONDITION_FAILED')
})

t.test('creating, changing and removing a product publish product.created, product.updated and product.removed', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const moderator = await account(app, 'moderator')
  const p = await product(app, seller, { name: 'Lamp' })
  await app.inject({ method: 'PATCH', url: `/api/v1/products/${p.id}`, headers: seller.headers, payload: { priceCents: 1500 } })
  await app.inject({ method: 'DELETE', url: `/api/v1/products/${p.id}`, headers: moderator.headers })
  // Every business event is one job per subscriber queue; webhooks' fan-out subscribes to all of them.
  const rows = await app.sql<{ type: string; data: { productId: string; changes: string[]; status: string; version: number } }[]>`
    select data->>'type' as type, data->'data' as data from pgboss_v12.job where name = 'webhooks.fan-out' order by created_on`
  t.same(
    rows.map((r) => [r.type, r.data.productId, r.data.status, r.data.version]),
    [
      ['product.created', p.id, 'active', 1],
      ['product.updated', p.id, 'active', 2],
      ['product.removed', p.id, 'removed', 3],
    ],
  )
  t.same(rows[1]!.data.changes, ['priceCents'], 'product.updated names the fields the request set')
})
