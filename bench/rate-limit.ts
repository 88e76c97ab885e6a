// The cost of rate limiting per request: a cheap route limited by each strategy (Redis-backed when
// REDIS_URL is set) against the same route with `rateLimit: false`, in one run, as ratios (target
// ≥ 0.8). The limit is so high that nothing is refused: this measures the check, not the 429s.
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { buildApp } from '../src/app/app.js'
import { loadConfig } from '../src/lib/config.js'
import { benchDatabase } from './_database.js'

const DURATION = Number(process.env.BENCH_SECONDS ?? 5)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20)
const TARGET = 0.8

/** req/s, and this process's CPU per request (server and load generator: both run here). */
async function measure(url: string, duration: number) {
  const cpu = process.cpuUsage()
  const result = await autocannon({ url, connections: CONNECTIONS, duration, pipelining: 1 })
  const used = process.cpuUsage(cpu)
  return { rps: result.requests.average, non2xx: result.non2xx, cpuUs: used.user + used.system, requests: result.requests.total }
}

const database = await benchDatabase()
const prefix = `keel-bench:${process.pid}:`

const app = await buildApp({
  config: loadConfig({
    DATABASE_URL: database.url,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret',
    RATE_LIMIT_STRATEGY: 'sliding',
    RATE_LIMIT_MAX: String(1e12),
  }),
  logger: false,
})
const cheap = async () => ({ success: true, data: 'pong' })
const huge = { max: 1e12, timeWindow: 60_000 }
app.get('/bench/unlimited', { config: { rateLimit: false } }, cheap)
app.get('/bench/sliding', cheap) // the default policy: RATE_LIMIT_STRATEGY=sliding
app.get('/bench/fixed', { config: { rateLimit: { strategy: 'fixed', ...huge } } }, cheap)
app.get('/bench/token-bucket', { config: { rateLimit: { strategy: 'token-bucket', ...huge } } }, cheap)
await app.listen({ port: 0, host: '127.0.0.1' })
const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/bench`

const backend = app.rateLimitStats().backend
console.log(
  `rate limiter backend: ${backend}${backend === 'memory' ? ' (set REDIS_URL to measure the Redis stores)' : ''}; ${DURATION} s per case, ${CONNECTIONS} connections`,
)
for (const path of ['unlimited', 'sliding', 'fixed', 'token-bucket']) await measure(`${base}/${path}`, 1) // warm up JIT and the scripts

// Background load drifts (shared CPUs): alternate 1 s slices of the unlimited and the limited route
// and compare their sums, so both sides see the same conditions.
let failed = false
for (const strategy of ['sliding', 'fixed', 'token-bucket']) {
  const free = { rps: 0, cpuUs: 0, requests: 0 }
  const limited = { rps: 0, cpuUs: 0, requests: 0, non2xx: 0 }
  for (let i = 0; i < DURATION; i++) {
    for (const [side, path] of [
      [free, 'unlimited'],
      [limited, strategy],
    ] as const) {
      const r = await measure(`${base}/${path}`, 1)
      side.rps += r.rps / DURATION
      side.cpuUs += r.cpuUs
      side.requests += r.requests
      if ('non2xx' in side) side.non2xx += r.non2xx
    }
  }
  const ratio = limited.rps / free.rps
  if (ratio < TARGET || limited.non2xx > 0) failed = true
  const verdict = ratio >= TARGET ? 'ok' : `BELOW TARGET ${TARGET}`
  // CPU per request is steadier than req/s on a shared machine (it ignores waiting for Redis).
  const cpuFree = free.cpuUs / free.requests
  const cpuLimited = limited.cpuUs / limited.requests
  console.log(
    `${strategy.padEnd(12)}: ${limited.rps.toFixed(0)} req/s vs ${free.rps.toFixed(0)} unlimited, ratio ${ratio.toFixed(2)} ${verdict}; ` +
      `CPU ${cpuLimited.toFixed(1)} vs ${cpuFree.toFixed(1)} µs/request (+${(cpuLimited - cpuFree).toFixed(1)})${limited.non2xx ? `; ${limited.non2xx} non-2xx!` : ''}`,
  )
}

await app.close()
if (backend === 'redis') {
  const redis = new Redis(process.env.REDIS_URL!)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  redis.disconnect()
}
await database.drop()
process.exit(failed ? 1 : 0)
