// One order's trace, from the POST to the webhook receiver's answer: a real Keel process with tracing
// loaded by `--import` (as `npm start` does) and pointed at a local OTLP receiver. And without an
// endpoint: no SDK, nothing stored.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { build, createTestDatabase, needsRedis, redisUrl } from '../helpers/build.js'
import { createUser } from '../helpers/auth.js'
import { QUEUE_SCHEMA } from '../../plugins/queue/index.js'
import { startServer } from '../helpers/server-process.js'
import { otlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js'
import { receiver } from '../modules/webhooks/receiver.js'
import { waitFor } from '../helpers/wait.js'
import { waterfall } from '../helpers/waterfall.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { projectRoot } from '../../src/lib/paths.js'

const SERVER = 2
const CLIENT = 3

t.test('an order placed over HTTP and delivered to a webhook is one trace', { skip: redisUrl() ? false : needsRedis }, async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const collector = await otlpReceiver(t)
  const hooks = await receiver(t)
  const keel = await startServer(
    t,
    {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl()!,
      REDIS_KEY_PREFIX: `keel-trace:${process.pid}:`,
      JWT_SECRET: 'trace-secret-trace-secret-trace-secret',
      WEBHOOK_ALLOW_PRIVATE: 'true',
      JOB_POLL_INTERVAL_SECONDS: '0.5',
      RATE_LIMIT_MAX: '100000',
      // The accounts are registered over HTTP and never open their verification link.
      REQUIRE_VERIFIED_EMAIL_FOR: 'none',
      // As test/helpers/build.ts sets them: a loaded test machine is not an overloaded or failing server.
      DB_PROBE_TIMEOUT_MS: '5000',
      LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'keel-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    },
    { imports: ['./src/app/instrumentation.ts'] },
  )

  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${keel.base}/api/v1${path}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    })
    const json = (await res.json()) as { data: Record<string, unknown> }
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
    return json.data
  }
  const account = async (name: string) => {
    const email = `${name}-${process.pid}@example.test`
    const password = 'Correct-Horse-9-Battery'
    await api('POST', '/auth/register', { email, password, name })
    const { accessToken } = await api('POST', '/auth/login', { email, password })
    return { authorization: `Bearer ${String(accessToken)}` }
  }
  const seller = await account('seller')
  const buyer = await account('buyer')
  const item = await api('POST', '/products', { name: 'Traced widget', priceCents: 900, stock: 5 }, seller)
  await api('POST', '/webhooks', { url: hooks.url, events: ['order.created'], currentPassword: 'Correct-Horse-9-Battery' }, buyer)

  const order = await api(
    'POST',
    '/orders',
    { items: [{ productId: item.id, quantity: 1 }] },
    { ...buyer, 'x-request-id': 'trace-order-1' },
  )
  const delivery = await waitFor(() => hooks.received.find((r) => JSON.parse(r.body).data?.id === order.id), {
    what: 'the webhook',
    timeoutMs: 30_000,
  })

  // The request's server span, found by the request id's log line.
  const requestLine = await waitFor(() => keel.logs().find((l) => l.requestId === 'trace-order-1' && l.msg === 'request completed'), {
    what: 'the request log line',
  })
  const traceId = String(requestLine.trace_id)
  t.match(traceId, /^[0-9a-f]{32}$/, "the request's log line carries its trace id beside its request id")

  const traceparent = String(delivery.headers.traceparent)
  t.match(traceparent, new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'the webhook POST carries the trace in traceparent')
  const postSpanId = traceparent.split('-')[2]

  // Wait until the delivery's client span has been exported (batches every 100 ms).
  const spans = await waitFor(
    () => {
      const inTrace = collector.spans.filter((s) => s.traceId === traceId)
      const names = new Set(inTrace.map((s) => s.name))
      const all = ['job webhooks.fan-out', 'job deliver-webhook', 'job send-email'].every((n) => names.has(n))
      return all && inTrace.some((s) => s.spanId === postSpanId) && inTrace.some((s) => s.kind === SERVER) ? inTrace : undefined
    },
    { what: 'the trace to be exported', timeoutMs: 30_000 },
  ).catch((err: Error) => {
    if (process.env.DEBUG_TRACE)
      console.error(
        collector.spans.map((s) => `${s.traceId} ${s.spanId} <${s.parentSpanId} ${s.name} ${JSON.stringify(s.attributes)}`).join('\n'),
        keel.output().slice(-5000),
      )
    throw err
  })
  const byId = new Map(spans.map((s) => [s.spanId, s]))
  const ancestors = (s: ReceivedSpan) => {
    const out: ReceivedSpan[] = []
    for (let p = s.parentSpanId && byId.get(s.parentSpanId); p; p = p.parentSpanId && byId.get(p.parentSpanId)) out.push(p)
    return out
  }
  const isUnder = (s: ReceivedSpan, parent: ReceivedSpan) => ancestors(s).includes(parent)

  const server = spans.find((s) => s.kind === SERVER && s.attributes['http.route'] === '/api/v1/orders')
  t.ok(server, 'the POST /api/v1/orders server span')
  t.notOk(server!.parentSpanId, 'the request starts the trace')
  t.equal(server!.attributes['http.response.status_code'], 201)

  const sql = spans.filter((s) => s.attributes['db.system.name'] === 'postgresql' && isUnder(s, server!))
  const insertOrder = sql.find((s) => s.name === 'INSERT orders')
  t.ok(insertOrder, 'the order INSERT is a span under the request')
  t.match(
    String(insertOrder!.attributes['db.query.text']),
    /^insert into "orders" .*values \(\$1/i,
    'its statement text, with placeholders',
  )
  t.notMatch(JSON.stringify(sql.map((s) => s.attributes)), /Traced widget|Correct-Horse/, 'no parameter value is recorded')
  t.equal(insertOrder!.attributes['db.response.returned_rows'], 1)
  const redis = spans.filter((s) => s.attributes['db.system'] === 'redis' || s.attributes['db.system.name'] === 'redis')
  t.ok(
    redis.some((s) => isUnder(s, server!)),
    'Redis commands (rate limit, cache) are spans under the request',
  )

  const fanOut = spans.find((s) => s.name === 'job webhooks.fan-out')
  t.ok(fanOut && isUnder(fanOut, server!), 'the fan-out job continues the trace of the request that published the event')
  const deliver = spans.find((s) => s.name === 'job deliver-webhook')
  t.ok(deliver && isUnder(deliver, fanOut!), 'the delivery job is a child of the fan-out that queued it')
  const post = byId.get(postSpanId!)!
  t.equal(post.kind, CLIENT, 'the span named by traceparent is the delivery POST')
  t.ok(isUnder(post, deliver!), 'under the delivery job')
  t.equal(post.attributes['http.response.status_code'], 200)

  const emailJob = spans.find((s) => s.name === 'job send-email')
  t.ok(emailJob && isUnder(emailJob, server!), 'the confirmation email is sent in a span of its own, in the same trace')

  const jobLine = await waitFor(() => keel.logs().find((l) => l.msg === 'webhook delivered'), { what: 'the delivery log line' })
  t.equal(jobLine.trace_id, traceId, "a job's log lines name the trace too")
  t.equal(jobLine.span_id, deliver!.spanId)

  t.notOk(
    collector.spans.some((s) => /health|metrics/.test(String(s.attributes['url.path'] ?? s.attributes['http.route'] ?? ''))),
    'health and metrics are not traced',
  )
  // The README's picture of this trace: KEEL_TRACE_PICTURE=1 npx tap test/observability/trace.test.ts
  if (process.env.KEEL_TRACE_PICTURE) {
    // The order's own spans, up to the webhook receiver's answer (later ones: pg-boss settling jobs, the email).
    const shown = spans.filter((s) => s === server || (isUnder(s, server!) && s.start <= post.end && s.name !== 'pg-pool.connect'))
    writeFileSync(join(projectRoot, 'docs/order-trace.svg'), waterfall(shown, { title: 'POST /api/v1/orders → webhook delivered' }))
  }
  keel.child.kill('SIGTERM')
  await keel.exited
})

t.test('with no OTLP endpoint no SDK is loaded, and jobs carry no trace context', async (t) => {
  // The instrumentation module as `npm start` loads it, with tracing not configured.
  const probe = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      './src/app/instrumentation.ts',
      '--input-type=module',
      '-e',
      "const { tracingOn } = await import('./src/lib/tracing.ts'); console.log(JSON.stringify({ on: tracingOn() }))",
    ],
    { cwd: projectRoot, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME } },
  )
  t.equal(probe.status, 0, probe.stderr)
  t.same(JSON.parse(probe.stdout), { on: false }, 'no tracer provider registered')

  // In a process without the SDK, a job queued inside a request stores its payload as it is.
  const app = await build(t, { ROLE: 'api' })
  const user = await createUser(app)
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/products',
    headers: user.headers,
    payload: { name: 'Untraced', priceCents: 100, stock: 1 },
  })
  t.equal(res.statusCode, 201)
  const rows = await app.sql.unsafe<{ data: Record<string, unknown>; trace_context: unknown }[]>(
    `select data, trace_context from ${QUEUE_SCHEMA}.job where name = 'webhooks.fan-out'`,
  )
  t.ok(rows.length > 0, 'the event was queued')
  t.ok(
    rows.every((r) => !('_trace' in r.data) && r.trace_context === null),
    'without trace context',
  )
})
