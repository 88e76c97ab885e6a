// Background jobs end to end (enqueue → worker → completed), in jobs per second: a no-op queue
// (the cost of pg-boss and the queue plugin alone) and signed webhook deliveries to a local
// receiver (the real worker: database reads/writes, HMAC, an HTTP POST). Bounded counts.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Type } from '@sinclair/typebox'
import { buildApp } from '../src/app/app.js'
import { loadConfig } from '../src/lib/config.js'
import { newId } from '../src/lib/ids.js'
import { orderCreated } from '../modules/orders/contract.js'
import { waitFor } from '../test/helpers/wait.js'
import { benchDatabase } from './_database.js'

const JOBS = Number(process.env.BENCH_JOBS ?? 500)
const SUBSCRIPTIONS = 10

const until = (check: () => Promise<boolean>) => waitFor(check, { timeoutMs: 120_000, intervalMs: 10, what: 'the benchmark' })

const database = await benchDatabase()

let received = 0
const receiver = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    received++
    res.writeHead(204).end()
  })
})
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

const app = await buildApp({
  config: loadConfig({
    DATABASE_URL: database.url,
    LOG_LEVEL: 'silent',
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret',
    REDIS_URL: process.env.REDIS_URL,
    WEBHOOK_ALLOW_PRIVATE: 'true',
    JOB_POLL_INTERVAL_SECONDS: '0.5',
  }),
  logger: false,
})
let noop = 0
await app.jobs.define({ name: 'bench-noop', schema: Type.Object({ n: Type.Integer() }), batchSize: 50, handler: async () => void noop++ })
await app.ready()

try {
  // 1. No-op jobs.
  let started = Date.now()
  await app.jobs.insert(Array.from({ length: JOBS }, (_, n) => ({ name: 'bench-noop', data: { n } })))
  await until(async () => (await app.jobs.stats())['bench-noop']!.completed === JOBS)
  const noopSeconds = (Date.now() - started) / 1000
  console.log(`no-op jobs:         ${JOBS} in ${noopSeconds.toFixed(2)} s = ${(JOBS / noopSeconds).toFixed(0)} jobs/s (handled ${noop})`)

  // 2. Webhook deliveries: SUBSCRIPTIONS subscribers × JOBS/SUBSCRIPTIONS events. Each subscription has
  // its own owner, an admin (order events reach the buyer and staff): one owner's deliveries run at
  // most WEBHOOK_CONCURRENCY_PER_OWNER at once, so this measures the workers, not one owner's share.
  const owners: string[] = []
  for (let i = 0; i < SUBSCRIPTIONS; i++) {
    const { id: ownerId } = await app.users.create({
      email: `bench-webhooks-${i}@example.test`,
      name: 'Bench',
      password: 'Correct-Horse-9-Battery',
      role: 'admin',
    })
    owners.push(ownerId)
    await app.sql`insert into webhook_subscriptions (id, owner_id, url, events, secret)
      values (${newId()}, ${ownerId}, ${receiverUrl}, ${['order.created']}, ${'whsec_' + Buffer.from(`bench-secret-${i}`).toString('base64')})`
  }
  const events = Math.ceil(JOBS / SUBSCRIPTIONS)
  started = Date.now()
  const at = new Date().toISOString()
  for (let i = 0; i < events; i++) {
    const order = {
      id: newId(),
      userId: owners[0]!,
      status: 'confirmed' as const,
      totalCents: 100,
      version: 1,
      createdAt: at,
      updatedAt: at,
      items: [],
    }
    await app.events.publish(orderCreated, order)
  }
  const enqueued = (Date.now() - started) / 1000
  const total = events * SUBSCRIPTIONS
  await until(async () => {
    const [row] = await app.sql<{ n: number }[]>`select count(*)::int as n from webhook_deliveries where status = 'succeeded'`
    return row!.n === total
  })
  const deliverSeconds = (Date.now() - started) / 1000
  console.log(
    `webhook deliveries: ${total} in ${deliverSeconds.toFixed(2)} s = ${(total / deliverSeconds).toFixed(0)} deliveries/s (publishing took ${enqueued.toFixed(2)} s; receiver got ${received})`,
  )
} finally {
  await app.close()
  await new Promise<void>((resolve) => receiver.close(() => resolve()))
  await database.drop()
}
