// The cost of Keel's stack per request: GET /health through the whole app (request id, helmet,
// cors, logging, metrics, error handler) against a bare Fastify route, measured in one run.
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { benchDatabase } from './_database.js'

const DURATION = Number(process.env.BENCH_SECONDS ?? 5)

async function measure(url: string): Promise<number> {
  const result = await autocannon({ url, connections: 20, duration: DURATION, pipelining: 1 })
  return result.requests.average
}

const database = await benchDatabase()

const bare = Fastify()
bare.get('/health', async () => ({ status: 'healthy' }))
await bare.listen({ port: 0, host: '127.0.0.1' })

const app = await buildApp({
  config: loadConfig({
    DATABASE_URL: database.url,
    LOG_LEVEL: 'silent',
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret',
    REDIS_URL: process.env.REDIS_URL,
    RATE_LIMIT_ENABLED: 'false',
  }),
  logger: false,
})
await app.listen({ port: 0, host: '127.0.0.1' })

const port = (s: { server: { address: () => unknown } }) => (s.server.address() as { port: number }).port
const bareRps = await measure(`http://127.0.0.1:${port(bare)}/health`)
const keelRps = await measure(`http://127.0.0.1:${port(app)}/health`)
console.log(`bare fastify GET /health: ${bareRps.toFixed(0)} req/s`)
console.log(`keel        GET /health: ${keelRps.toFixed(0)} req/s`)
console.log(`ratio keel/bare: ${(keelRps / bareRps).toFixed(2)}`)

await Promise.all([bare.close(), app.close()])
await database.drop()
