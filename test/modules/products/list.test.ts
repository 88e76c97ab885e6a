import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { newId } from '../../../src/lib/ids.js'
import { createProductRepository } from '../../../modules/products/repository.js'

interface Item {
  id: string
  name: string
  priceCents: number
  stock: number
  status: string
  ownerId: string
  createdAt: string
}

const owners = [newId(), newId()]

/** 45 products: prices and creation times repeat, so the id tie-breaker matters. */
async function seed(app: FastifyInstance) {
  const repo = createProductRepository()
  const base = Date.parse('2026-01-01T00:00:00.000Z')
  for (let i = 0; i < 45; i++) {
    const row = await repo.insert(app.db, {
      id: newId(),
      ownerId: owners[i % 2]!,
      name: `${['Lamp', 'Desk', 'Chair'][i % 3]} ${String(i).padStart(2, '0')}`,
      description: '',
      priceCents: 100 * (i % 7),
      stock: i % 5,
      status: i % 4 === 3 ? 'inactive' : 'active',
    })
    // Several products share a timestamp.
    await app.sql`update products set created_at = ${new Date(base + Math.floor(i / 3) * 1000).toISOString()} where id = ${row.id}`
  }
}

async function getJson(app: FastifyInstance, url: string) {
  const res = await app.inject({ method: 'GET', url })
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
  return res.json() as { data: Item[]; meta: { total?: number; page: number; limit: number; offset: number; nextCursor?: string | null } }
}

async function walkOffset(app: FastifyInstance, query: string, limit: number) {
  const seen: Item[] = []
  for (let page = 1; ; page++) {
    const body = await getJson(app, `/api/v1/products?${query}&limit=${limit}&page=${page}`)
    seen.push(...body.data)
    if (body.data.length < limit) return { seen, total: body.meta.total }
  }
}

async function walkCursor(app: FastifyInstance, query: string, limit: number) {
  const seen: Item[] = []
  let cursor: string | null | undefined
  for (let pages = 0; pages < 100; pages++) {
    const body = await getJson(app, `/api/v1/products?${query}&limit=${limit}&cursor=${cursor ?? ''}`)
    t.equal(body.meta.total, undefined, 'a cursor page carries no total')
    seen.push(...body.data)
    cursor = body.meta.nextCursor
    if (!cursor) return seen
  }
  throw new Error('cursor walk did not end')
}

t.test('every sort walks the catalog without duplicates or gaps, by offset and by cursor', async (t) => {
  const app = await build(t)
  await seed(app)
  const all = (await getJson(app, '/api/v1/products?limit=100')).data
  t.equal(all.length, 45)

  for (const sort of ['-createdAt', 'created_at', 'priceCents', '-price_cents,name', 'name', '-stock']) {
    const expected = (await getJson(app, `/api/v1/products?limit=100&sort=${sort}`)).data.map((p) => p.id)
    const offset = await walkOffset(app, `sort=${sort}`, 7)
    t.same(
      offset.seen.map((p) => p.id),
      expected,
      `offset pages for sort=${sort}`,
    )
    t.equal(offset.total, 45)
    const cursor = await walkCursor(app, `sort=${sort}`, 7)
    t.same(
      cursor.map((p) => p.id),
      expected,
      `cursor pages for sort=${sort}`,
    )
  }
})

t.test('the full listing is really in sort order, ties broken by id', async (t) => {
  const app = await build(t)
  await seed(app)
  const rows = (await getJson(app, '/api/v1/products?limit=100&sort=-priceCents')).data
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!
    const b = rows[i]!
    t.ok(a.priceCents > b.priceCents || (a.priceCents === b.priceCents && a.id < b.id), `row ${i} in order`)
  }
})

t.test('filters narrow the list and its total', async (t) => {
  const app = await build(t)
  await seed(app)
  const inactive = await walkOffset(app, 'status=inactive', 5)
  t.equal(inactive.seen.length, 11)
  t.equal(inactive.total, 11)
  t.ok(inactive.seen.every((p) => p.status === 'inactive'))

  const lamps = await getJson(app, '/api/v1/products?q=LAMP&limit=100')
  t.equal(lamps.meta.total, 15)
  t.ok(lamps.data.every((p) => p.name.startsWith('Lamp')))

  const priced = await getJson(app, '/api/v1/products?minPrice=200&maxPrice=400&limit=100')
  t.ok(priced.data.length > 0 && priced.data.every((p) => p.priceCents >= 200 && p.priceCents <= 400))
  t.equal(priced.meta.total, priced.data.length)

  const mine = await walkCursor(app, `ownerId=${owners[0]}&status=active`, 4)
  t.ok(mine.length > 0 && mine.every((p) => p.ownerId === owners[0] && p.status === 'active'))

  const none = await getJson(app, '/api/v1/products?q=%25')
  t.equal(none.meta.total, 0, '% in q is a literal, not a wildcard')
})

t.test('fields= returns only the id and the fields asked for, also on cursor pages', async (t) => {
  const app = await build(t)
  await seed(app)
  const body = await getJson(app, '/api/v1/products?fields=name,priceCents&sort=-createdAt&limit=5&cursor=')
  t.same(Object.keys(body.data[0]!).sort(), ['id', 'name', 'priceCents'])
  const next = await getJson(app, `/api/v1/products?fields=name&sort=-createdAt&limit=5&cursor=${body.meta.nextCursor}`)
  t.same(Object.keys(next.data[0]!).sort(), ['id', 'name'])
  t.equal(next.data.length, 5)
})

t.test('bad list parameters are a 400 naming the parameter', async (t) => {
  const app = await build(t)
  for (const [query, field] of [
    ['sort=description', 'sort'],
    ['fields=secret', 'fields'],
    ['cursor=bm9wZQ', 'cursor'],
    ['limit=101', 'limit'],
    ['status=removed', 'status'],
  ] as const) {
    const res = await app.inject({ method: 'GET', url: `/api/v1/products?${query}` })
    t.equal(res.statusCode, 400, query)
    t.equal(res.json().code, 'VALIDATION_ERROR')
    t.ok(
      res.json().details.some((d: { field: string }) => d.field.includes(field)),
      `${query} names ${field}`,
    )
  }
})

t.test('offset pages carry exactly {total, page, limit, offset}; an empty cursor starts a keyset walk', async (t) => {
  const app = await build(t)
  await seed(app)
  const offset = await getJson(app, '/api/v1/products?limit=5&page=2')
  t.same(Object.keys(offset.meta).sort(), ['limit', 'offset', 'page', 'total'])
  t.match(offset.meta, { page: 2, limit: 5, offset: 5 })
  const keyset = await getJson(app, '/api/v1/products?limit=5&cursor=')
  t.same(Object.keys(keyset.meta).sort(), ['limit', 'nextCursor', 'offset', 'page'])
  t.type(keyset.meta.nextCursor, 'string')
})

t.test('fields may name the id too (fields=id,name)', async (t) => {
  const app = await build(t)
  await seed(app)
  const body = await getJson(app, '/api/v1/products?fields=id,name&limit=3')
  t.same(Object.keys(body.data[0]!).sort(), ['id', 'name'])
})
