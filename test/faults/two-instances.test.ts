// Two Keel processes behind one load balancer: one database (unmigrated when they start, at the
// same time), one Redis (a redis-server of the test's own). Migrations are applied once; a client's
// rate limit is shared (bursts split across both never get past it); a write on one is seen by a
// read on the other at once (shared cache invalidation); "log out everywhere" on one ends the
// token on the other; each queued job runs once (webhook deliveries, counted by the receiver).
import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { createTestDatabase } from '../helpers/build.js'
import { freePort, startRedis, stopRedis } from '../helpers/redis-server.js'
import { startServer } from '../helpers/server-process.js'
import { waitFor } from '../helpers/wait.js'
import { projectRoot } from '../../src/lib/paths.js'

const json = { 'content-type': 'application/json' }
const LIMIT = 20

t.test('two instances on one database and one Redis', async (t) => {
  const databaseUrl = await createTestDatabase(t, { empty: true })
  const redisPort = await freePort()
  const redis = await startRedis(redisPort)
  t.teardown(() => stopRedis(redis))

  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    JWT_SECRET: 'two-instances-secret-two-instances-secret',
    RATE_LIMIT_MAX: String(LIMIT),
    TRUST_PROXY: 'true', // each burst comes "from" an address of its own (x-forwarded-for)
    WEBHOOK_ALLOW_PRIVATE: 'true',
    JOB_POLL_INTERVAL_SECONDS: '0.5',
    // The buyer signs up and subscribes a webhook without opening its verification email.
    REQUIRE_VERIFIED_EMAIL_FOR: 'none',
  }
  // Both start at once on an empty database: both migrate, under the advisory lock.
  const [a, b] = await Promise.all([startServer(t, env), startServer(t, env)])
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())

  await t.test('migrations at a simultaneous start are applied once', async (t) => {
    const journal = JSON.parse(readFileSync(join(projectRoot, 'drizzle', 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
    const rows = await sql<{ hash: string }[]>`select hash from drizzle.__drizzle_migrations`
    t.equal(rows.length, journal.entries.length, `${rows.length} migration(s) recorded, one per file`)
    t.equal(new Set(rows.map((r) => r.hash)).size, rows.length, 'none twice')
    for (const server of [a, b]) t.equal((await fetch(`${server.base}/health/ready`)).status, 200, 'both are ready')
  })

  const api = (server: { base: string }) => `${server.base}/api/v1`
  let n = 0
  const account = async (server: { base: string }) => {
    const body = { email: `two-${process.pid}-${++n}@example.test`, password: 'Correct-Horse-9-Battery' }
    t.equal((await fetch(`${api(server)}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify(body) })).status, 201)
    const login = await fetch(`${api(server)}/auth/login`, { method: 'POST', headers: json, body: JSON.stringify(body) })
    const { accessToken } = ((await login.json()) as { data: { accessToken: string } }).data
    return { ...json, authorization: `Bearer ${accessToken}` }
  }

  await t.test('a client has one rate limit across both instances: bursts split between them never get past it', async (t) => {
    // Until its own Redis connection is up, an instance fails open (as configured): wait for both to count.
    for (const [i, server] of [a, b].entries()) {
      await waitFor(
        async () => {
          const res = await fetch(`${api(server)}/products?limit=1`, { headers: { 'x-forwarded-for': `10.77.1.${i}` } })
          return Number(res.headers.get('x-ratelimit-remaining')) < LIMIT
        },
        { what: 'the rate limiter to count on both instances' },
      )
    }
    for (const burst of [1, 2, 3]) {
      const from = { 'x-forwarded-for': `10.77.0.${burst}` }
      const statuses = await Promise.all(
        Array.from({ length: 60 }, (_, i) => fetch(`${api(i % 2 ? a : b)}/products?limit=1`, { headers: from }).then((r) => r.status)),
      )
      const admitted = statuses.filter((s) => s === 200).length
      t.ok(admitted <= LIMIT && admitted > 0, `burst ${burst}: ${admitted} of 60 admitted (limit ${LIMIT})`)
      t.ok(
        statuses.every((s) => s === 200 || s === 429),
        'the others are 429',
      )
    }
  })

  await t.test('a write on one instance is read on the other at once (shared cache)', async (t) => {
    const seller = await account(a)
    const created = await fetch(`${api(a)}/products`, {
      method: 'POST',
      headers: seller,
      body: JSON.stringify({ name: 'Cached lamp', priceCents: 100, stock: 5 }),
    })
    const { id } = ((await created.json()) as { data: { id: string } }).data
    const read = async (server: { base: string }) =>
      ((await (await fetch(`${api(server)}/products/${id}`)).json()) as { data: { name: string } }).data.name
    t.equal(await read(a), 'Cached lamp')
    t.equal(await read(a), 'Cached lamp', '(now cached)')
    const patched = await fetch(`${api(b)}/products/${id}`, {
      method: 'PATCH',
      headers: seller,
      body: JSON.stringify({ name: 'Renamed lamp' }),
    })
    t.equal(patched.status, 200)
    t.equal(await read(a), 'Renamed lamp', 'the other instance serves the new name, not its cached copy')
  })

  await t.test('logging out everywhere on one instance ends the token on the other', async (t) => {
    const user = await account(a)
    t.equal((await fetch(`${api(a)}/auth/me`, { headers: user })).status, 200)
    t.equal((await fetch(`${api(b)}/auth/me`, { headers: user })).status, 200, '(the state is now cached)')
    t.equal((await fetch(`${api(b)}/auth/logout`, { method: 'POST', headers: user, body: JSON.stringify({ all: true }) })).status, 204)
    t.equal((await fetch(`${api(a)}/auth/me`, { headers: user })).status, 401, 'refused on the other instance at once')
  })

  await t.test('each queued job runs once: every webhook delivery arrives exactly once', async (t) => {
    const received: string[] = []
    const receiver = createServer((req: IncomingMessage, res) => {
      received.push(String(req.headers['webhook-id']))
      req.resume()
      res.end()
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise((resolve) => receiver.close(resolve)))
    const { port } = receiver.address() as { port: number }

    const seller = await account(a)
    const buyer = await account(b)
    const created = await fetch(`${api(a)}/products`, {
      method: 'POST',
      headers: seller,
      body: JSON.stringify({ name: 'Job lamp', priceCents: 100, stock: 100 }),
    })
    const productId = ((await created.json()) as { data: { id: string } }).data.id
    const hook = await fetch(`${api(b)}/webhooks`, {
      method: 'POST',
      headers: buyer,
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/hook`, events: ['order.created'], currentPassword: 'Correct-Horse-9-Battery' }),
    })
    t.equal(hook.status, 201)

    const orders = 10 // (within the buyer's rate limit)
    for (let i = 0; i < orders; i++) {
      const res = await fetch(`${api(i % 2 ? a : b)}/orders`, {
        method: 'POST',
        headers: buyer,
        body: JSON.stringify({ items: [{ productId, quantity: 1 }] }),
      })
      t.equal(res.status, 201)
    }
    // Every job of every queue completed (none waiting for a retry, none failed): nothing more can be delivered.
    let pending: { name: string; state: string }[] = []
    await waitFor(
      async () => {
        pending = await sql<{ name: string; state: string }[]>`
          select name, state from pgboss_v12.job where state in ('created', 'retry', 'active', 'failed')`
        return received.length >= orders && pending.length === 0
      },
      { timeoutMs: 30_000, what: 'every job to settle' },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${received.length} received, pending ${JSON.stringify(pending)}`)
    })
    t.equal(received.length, orders, `${orders} deliveries for ${orders} orders`)
    t.equal(new Set(received).size, orders, 'each once')
  })

  for (const server of [a, b]) {
    server.child.kill('SIGTERM')
    t.equal(await server.exited, 0)
  }
})
