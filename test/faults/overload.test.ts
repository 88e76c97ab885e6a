// An overloaded process sheds load: while the event loop lags (really blocked here) or the heap is
// past its limit, API requests answer 503 in the envelope with retry-after at once; health and
// metrics still answer; it stops by itself when the pressure passes, and says so once each way.
import t from 'tap'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { loggerOptions } from '../../plugins/request-context.js'
import { buildChecked, createTestDatabase, testConfig } from '../helpers/build.js'
import { waitFor } from '../helpers/wait.js'

type Overrides = Parameters<typeof testConfig>[1]

async function appWith(t: Parameters<typeof createTestDatabase>[0], overrides: Overrides) {
  const logs: { level: number; msg: string }[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line))
      done()
    },
  })
  const config = testConfig(await createTestDatabase(t), { LOG_LEVEL: 'info', ...overrides })
  const app: FastifyInstance = await buildChecked({ config, logger: { ...(loggerOptions(config) as object), stream } })
  t.teardown(() => app.close())
  await app.ready()
  return { app, logs }
}

const blockFor = (ms: number) => {
  const until = Date.now() + ms
  while (Date.now() < until) {
    // a request handler that hogs the event loop
  }
}

t.test('a blocked event loop: 503 with retry-after at once, health answers, then back to normal', async (t) => {
  const { app, logs } = await appWith(t, { LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS: 200, LOAD_SHED_RETRY_AFTER_SECONDS: 7 })
  t.equal((await app.inject('/api/v1/products')).statusCode, 200, 'served while starting (start-up work is not overload)')
  await waitFor(() => app.loadStats().active && !app.isUnderPressure(), { what: 'load shedding to be active' })
  t.equal((await app.inject('/api/v1/products')).statusCode, 200, 'served while calm')

  // Hog the loop until a sample (one a second) sees the delay.
  await waitFor(
    () => {
      blockFor(600)
      return app.isUnderPressure()
    },
    { timeoutMs: 20_000, intervalMs: 0, what: 'the event-loop delay to be measured' },
  )
  const shed = await app.inject({ method: 'GET', url: '/api/v1/products', headers: { 'x-request-id': 'shed-1' } })
  t.equal(shed.statusCode, 503)
  t.equal(shed.headers['retry-after'], '7')
  t.same(shed.json(), {
    success: false,
    error: 'The server is overloaded; retry in 7 seconds',
    code: 'SERVICE_UNAVAILABLE',
    details: [],
    requestId: 'shed-1',
  })
  t.equal((await app.inject('/health')).statusCode, 200, 'liveness still answers')
  t.equal((await app.inject('/health/ready')).statusCode, 200, 'readiness still answers (the dependencies are fine)')
  t.equal((await app.inject('/metrics')).statusCode, 200, 'metrics still answer')
  t.ok(app.loadStats().shed >= 1, 'counted')

  // The loop is free again: the next sample clears it.
  await waitFor(() => !app.isUnderPressure(), { timeoutMs: 10_000, what: 'the pressure to pass' })
  t.equal((await app.inject('/api/v1/products')).statusCode, 200, 'served again')
  t.equal(logs.filter((l) => l.msg.startsWith('overloaded: shedding load')).length, 1, 'one warning for the episode')
  t.equal(logs.filter((l) => l.msg.startsWith('load back to normal')).length, 1, 'and one line when it ends')
})

t.test('a heap past its limit: 503 in the envelope', async (t) => {
  const { app } = await appWith(t, { LOAD_SHED_MAX_HEAP_USED_MB: 1 }) // any heap is bigger than 1 MiB
  await waitFor(() => app.loadStats().active && app.isUnderPressure(), { what: 'the heap to be measured' })
  const shed = await app.inject('/api/v1/products')
  t.equal(shed.statusCode, 503)
  t.equal(shed.headers['retry-after'], '5', 'LOAD_SHED_RETRY_AFTER_SECONDS by default')
  t.match(shed.json(), { success: false, code: 'SERVICE_UNAVAILABLE', requestId: shed.headers['x-request-id'] })
  t.equal((await app.inject('/health')).statusCode, 200)
})
