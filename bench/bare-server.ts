// The bare reference: Fastify + postgres.js (prepared tagged templates) + ioredis, no plugins, no
// logging, no validation, no auth — over Keel's own tables and data. What Keel is measured against.
// Started by bench/stack.ts as its own process: PORT, DATABASE_URL, REDIS_URL from the environment.
import Fastify from 'fastify'
import postgres from 'postgres'
import { Redis } from 'ioredis'
import { randomUUID } from 'node:crypto'

const sql = postgres(process.env.DATABASE_URL!, { max: 10, onnotice: () => {} })
const redis = new Redis(process.env.REDIS_URL!, { keyPrefix: 'bare-bench:' })
const app = Fastify({ logger: false })

const product = (id: string) =>
  sql`select id, owner_id as "ownerId", name, description, price_cents as "priceCents", stock, status, version,
      created_at as "createdAt", updated_at as "updatedAt" from products where id = ${id}`

app.get('/health', async () => ({ status: 'healthy' }))

// Cache-aside, as any app would write it by hand.
app.get<{ Params: { id: string } }>('/cached/products/:id', async (request, reply) => {
  const key = `p:${request.params.id}`
  const hit = await redis.get(key)
  if (hit) return reply.type('application/json').send(`{"success":true,"data":${hit}}`)
  const [row] = await product(request.params.id)
  if (!row) return reply.code(404).send({ success: false })
  await redis.set(key, JSON.stringify(row), 'EX', 60)
  return { success: true, data: row }
})

app.get<{ Params: { id: string } }>('/products/:id', async (request, reply) => {
  const [row] = await product(request.params.id)
  if (!row) return reply.code(404).send({ success: false })
  return { success: true, data: row }
})

// An offset page without a total.
app.get<{ Querystring: { limit?: string; offset?: string } }>('/products', async (request) => {
  const limit = Number(request.query.limit ?? 20)
  const offset = Number(request.query.offset ?? 0)
  const rows = await sql`select id, owner_id as "ownerId", name, description, price_cents as "priceCents", stock, status, version,
      created_at as "createdAt", updated_at as "updatedAt" from products where status <> 'removed'
      order by created_at desc, id asc limit ${limit} offset ${offset}`
  return { success: true, data: rows, meta: { limit, offset } }
})

// A keyset page after (createdAt, id), newest first.
app.get<{ Querystring: { limit?: string; at: string; id: string } }>('/products/keyset', async (request) => {
  const limit = Number(request.query.limit ?? 20)
  const at = new Date(request.query.at)
  const rows = await sql`select id, owner_id as "ownerId", name, description, price_cents as "priceCents", stock, status, version,
      created_at as "createdAt", updated_at as "updatedAt" from products
      where status <> 'removed' and created_at <= ${at} and (created_at < ${at} or (created_at = ${at} and id > ${request.query.id}))
      order by created_at desc, id asc limit ${limit + 1}`
  return { success: true, data: rows.slice(0, limit) }
})

// The statements of an order: stock taken where enough, the order, its item, the outbox jobs.
app.post<{ Body: { userId: string; productId: string } }>('/orders', async (request, reply) => {
  const { userId, productId } = request.body
  const order = await sql.begin(async (tx) => {
    const [p] = await tx`update products set stock = stock - 1, version = version + 1, updated_at = now()
      where id = ${productId} and stock >= 1 and status = 'active' returning name, price_cents`
    if (!p) throw new Error('no stock')
    const id = randomUUID()
    const [o] = await tx`insert into orders (id, user_id, total_cents) values (${id}, ${userId}, ${p.price_cents}) returning id, created_at`
    await tx`insert into order_items (order_id, product_id, product_name, quantity, unit_price_cents) values (${id}, ${productId}, ${p.name}, 1, ${p.price_cents})`
    const event = { id: randomUUID(), type: 'order.created', data: { id } }
    await tx`insert into pgboss_v12.job (name, data) values ('emails.order-confirmation', ${sql.json(event)}), ('webhooks.fan-out', ${sql.json(event)})`
    return o
  })
  return reply.code(201).send({ success: true, data: order })
})

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
const close = async () => {
  await app.close()
  await sql.end({ timeout: 1 })
  redis.disconnect()
  process.exit(0)
}
process.on('SIGTERM', close)
process.on('SIGINT', close)
