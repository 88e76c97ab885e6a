// Draining behind a load balancer. With SHUTDOWN_DRAIN_DELAY_MS, a server process that gets SIGTERM
// first answers readiness 503 on new connections — as a balancer's health check opens them — while
// it still serves requests, and only then stops listening and exits. (Without the delay it stops
// listening at once: a health check is refused, and requests the balancer sends meanwhile fail.)
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { createTestDatabase } from '../helpers/build.js'
import { startServer } from '../helpers/server-process.js'
import { waitFor } from '../helpers/wait.js'

t.test('SIGTERM with a drain delay: readiness 503 first, requests still served, then exit 0', async (t) => {
  const server = await startServer(t, {
    DATABASE_URL: await createTestDatabase(t),
    JWT_SECRET: 'drain-test-secret-drain-test-secret-drain',
    SHUTDOWN_DRAIN_DELAY_MS: '3000',
  })
  // A new connection per request, as a balancer's health check makes.
  const get = (path: string) => fetch(`${server.base}${path}`, { headers: { connection: 'close' } })
  t.equal((await get('/health/ready')).status, 200, 'ready before the signal')

  const signalledAt = performance.now()
  server.child.kill('SIGTERM')
  const ready = await waitFor(
    async () => {
      const res = await get('/health/ready')
      return res.status === 503 && res
    },
    { timeoutMs: 2000, intervalMs: 20, what: 'readiness to answer 503' },
  )
  t.same(((await ready.json()) as { status: string }).status, 'unhealthy', 'readiness: 503 unhealthy')
  t.equal(ready.headers.get('connection'), 'close')
  const products = await get('/api/v1/products')
  t.equal(products.status, 200, 'a request during the drain is still served')
  t.ok(performance.now() - signalledAt < 3000, 'both within the drain delay')

  t.equal(await server.exited, 0, 'exit 0 after the drain')
  const exitMs = performance.now() - signalledAt
  t.ok(exitMs >= 3000, `exited after the drain delay (${Math.round(exitMs)} ms)`)
  t.match(server.output(), /draining: readiness answers 503/)
})
