// The stock assembly: the same endpoints as Keel's hot path, built the way a team would assemble them
// by hand from the popular plugins — what Keel should beat. Over Keel's tables and data, returning the
// same fields in the same envelope. It holds:
// - Fastify's own logger (pino) at info with redaction of credentials, a request id per request
//   (Fastify's default), a log line per request (to the same /dev/null as Keel's);
// - @fastify/helmet (defaults), @fastify/cors, @fastify/request-context (the user id per request);
// - @fastify/rate-limit on Redis (one budget per client address, a limit no client reaches);
// - fastify-metrics (prom-client: a request-duration histogram and a counter per route);
// - @fastify/jwt for the authenticated routes (Keel's own access tokens: same secret);
// - params, query, body and responses validated/serialized by JSON schema;
// - the `{ success, data, meta }` envelope;
// - cache-aside in Redis for a product by id (the SET not awaited), the list total cached in Redis.
// Started by bench/stack.ts as its own process: PORT, DATABASE_URL, REDIS_URL, JWT_SECRET from the env.
import Fastify from 'fastify'
import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import jwt from '@fastify/jwt'
import rateLimit from '@fastify/rate-limit'
import { fastifyRequestContext, requestContext } from '@fastify/request-context'
import postgres from 'postgres'
import { Redis } from 'ioredis'
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'

declare module '@fastify/request-context' {
  interface RequestContextData {
    userId: string
  }
}

const sql = postgres(process.env.DATABASE_URL!, { max: 10, onnotice: () => {} })
const redis = new Redis(process.env.REDIS_URL!, { keyPrefix: `stock-bench:${process.pid}:` })
const app = Fastify({
  logger: { level: 'info', redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'] },
})

await app.register(helmet)
await app.register(cors)
await app.register(fastifyRequestContext)
// fastify-metrics is CommonJS with `exports.default`, which ESM's default import does not unwrap.
const { default: metrics } = createRequire(import.meta.url)('fastify-metrics') as typeof import('fastify-metrics')
await app.register(metrics, { endpoint: '/metrics' })
await app.register(jwt, { secret: process.env.JWT_SECRET! })
await app.register(rateLimit, { max: 1_000_000_000, timeWindow: 60_000, redis })

const productProperties = {
  id: { type: 'string', format: 'uuid' },
  ownerId: { type: 'string', format: 'uuid' },
  name: { type: 'string' },
  description: { type: 'string' },
  priceCents: { type: 'integer' },
  stock: { type: 'integer' },
  status: { type: 'string', enum: ['active', 'inactive'] },
  version: { type: 'integer' },
  createdAt: { type: 'string', format: 'date-time' },
  updatedAt: { type: 'string', format: 'date-time' },
} as const
const product = { type: 'object', properties: productProperties } as const
const ok = (data: object, meta?: object) => ({
  type: 'object',
  properties: { success: { type: 'boolean' }, data, ...(meta ? { meta } : {}) },
})
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } } as const

const columns = sql`id, owner_id as "ownerId", name, description, price_cents as "priceCents", stock, status, version,
  created_at as "createdAt", updated_at as "updatedAt"`
const byId = async (id: string) => (await sql`select ${columns} from products where id = ${id} and status <> 'removed'`)[0]

async function authenticate(request: { jwtVerify: () => Promise<{ sub: string }> }): Promise<void> {
  const token = await request.jwtVerify()
  requestContext.set('userId', token.sub)
}

app.get('/health', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({
  status: 'healthy',
}))

// Cache-aside: GET, on a miss the row from PostgreSQL, then a SET the response does not wait for.
async function cachedProduct(id: string) {
  const hit = await redis.get(`p:${id}`)
  if (hit) return JSON.parse(hit) as object
  const row = await byId(id)
  if (row) void redis.set(`p:${id}`, JSON.stringify(row), 'EX', 60)
  return row
}

app.get<{ Params: { id: string } }>(
  '/products/:id',
  { schema: { params: idParams, response: { 200: ok(product) } } },
  async (request, reply) => {
    const row = await cachedProduct(request.params.id)
    if (!row) return reply.code(404).send({ success: false, error: 'Not found', code: 'NOT_FOUND' })
    return { success: true, data: row }
  },
)

app.get<{ Params: { id: string } }>(
  '/me/products/:id',
  { onRequest: authenticate, schema: { params: idParams, response: { 200: ok(product) } } },
  async (request, reply) => {
    const row = await cachedProduct(request.params.id)
    if (!row) return reply.code(404).send({ success: false, error: 'Not found', code: 'NOT_FOUND' })
    return { success: true, data: row }
  },
)

// An offset page with its total, the total cached in Redis.
const listQuery = {
  type: 'object',
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    offset: { type: 'integer', minimum: 0, default: 0 },
    at: { type: 'string', format: 'date-time' },
    after: { type: 'string', format: 'uuid' },
  },
} as const
const pageMeta = {
  type: 'object',
  properties: { total: { type: 'integer' }, limit: { type: 'integer' }, offset: { type: 'integer' } },
} as const
app.get<{ Querystring: { limit: number; offset: number } }>(
  '/products',
  { schema: { querystring: listQuery, response: { 200: ok({ type: 'array', items: product }, pageMeta) } } },
  async (request) => {
    const { limit, offset } = request.query
    const [rows, total] = await Promise.all([
      sql`select ${columns} from products where status <> 'removed' order by created_at desc, id asc limit ${limit} offset ${offset}`,
      redis.get('products:total').then(async (hit) => {
        if (hit) return Number(hit)
        const [{ n }] = await sql<[{ n: number }]>`select count(*)::int as n from products where status <> 'removed'`
        void redis.set('products:total', String(n), 'EX', 60)
        return n
      }),
    ])
    return { success: true, data: rows, meta: { total, limit, offset } }
  },
)

// A keyset page after (createdAt, id), newest first.
app.get<{ Querystring: { limit: number; at: string; after: string } }>(
  '/products/keyset',
  { schema: { querystring: listQuery, response: { 200: ok({ type: 'array', items: product }) } } },
  async (request) => {
    const { limit, after } = request.query
    const at = new Date(request.query.at)
    const rows = await sql`select ${columns} from products
      where status <> 'removed' and created_at <= ${at} and (created_at < ${at} or (created_at = ${at} and id > ${after}))
      order by created_at desc, id asc limit ${limit}`
    return { success: true, data: rows }
  },
)

// An order: stock taken where enough, the order, its item, the outbox jobs, in one transaction.
const orderBody = {
  type: 'object',
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      minItems: 1,
      maxItems: 1,
      items: {
        type: 'object',
        required: ['productId', 'quantity'],
        properties: { productId: { type: 'string', format: 'uuid' }, quantity: { type: 'integer', minimum: 1, maximum: 1000 } },
      },
    },
  },
} as const
const order = {
  type: 'object',
  properties: { id: { type: 'string' }, totalCents: { type: 'integer' }, createdAt: { type: 'string', format: 'date-time' } },
} as const
app.post<{ Body: { items: { productId: string; quantity: number }[] } }>(
  '/orders',
  { onRequest: authenticate, schema: { body: orderBody, response: { 201: ok(order) } } },
  async (request, reply) => {
    const { productId, quantity } = request.body.items[0]!
    const userId = requestContext.get('userId')!
    const created = await sql.begin(async (tx) => {
      const [p] = await tx`update products set stock = stock - ${quantity}, version = version + 1, updated_at = now()
        where id = ${productId} and stock >= ${quantity} and status = 'active' returning name, price_cents`
      if (!p) return undefined
      const id = randomUUID()
      const [o] = await tx`insert into orders (id, user_id, total_cents) values (${id}, ${userId}, ${p.price_cents * quantity})
        returning id, total_cents as "totalCents", created_at as "createdAt"`
      await tx`insert into order_items (order_id, product_id, product_name, quantity, unit_price_cents)
        values (${id}, ${productId}, ${p.name}, ${quantity}, ${p.price_cents})`
      const event = { id: randomUUID(), type: 'order.created', data: { id } }
      await tx`insert into pgboss_v12.job (name, data) values ('emails.order-confirmation', ${sql.json(event)}), ('webhooks.fan-out', ${sql.json(event)})`
      return o
    })
    if (!created) return reply.code(409).send({ success: false, error: 'Out of stock', code: 'OUT_OF_STOCK' })
    return reply.code(201).send({ success: true, data: created })
  },
)

await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
const close = async () => {
  await app.close()
  await sql.end({ timeout: 1 })
  redis.disconnect()
  process.exit(0)
}
process.on('SIGTERM', close)
process.on('SIGINT', close)
