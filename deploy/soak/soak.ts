// `npm run soak -- --minutes N`: a long run with faults through the rehearsed topology.
//
// Brings `npm run topology` up (TOPOLOGY_PORT_BASE moves its ports), drives mixed traffic through
// HAProxy (product reads and lists, logins, orders with Idempotency-Keys — retried with the same key
// after a 5xx or a lost connection, as a client should —, cancels, order lists, reports, and webhook
// subscriptions delivered to a receiver here), and at random moments causes a fault: an API instance
// or a worker killed and started again, the Redis master killed, replay on the replica paused,
// PgBouncer restarted, a rolling restart. Then it checks, prints, writes soak/summary.json and
// soak/chart.svg (or --out DIR), takes the topology down, and exits 1 when a check failed:
//   - every order answered 201 is in the database once, and each product's stock is its initial
//     stock less the quantities of its orders that are not cancelled (stock taken once);
//   - every order answered with an error is not in the database;
//   - every webhook delivery of an accepted order reached the receiver (at least once, at most
//     WEBHOOK_MAX_ATTEMPTS times) or is recorded dead;
//   - every report requested finished;
//   - no 5xx but 503s during a fault (from its start to 10 s after its end); requests cut by a
//     killed process (no answer) are allowed then too, and counted;
//   - the RSS of every API instance and worker grew less than 10% from the end of warm-up to the
//     end (medians of the first and last third of its 10-second samples). Warm-up is the first
//     sixth of the run (minute 5 of 30; 30 s of a 3-minute run); an instance restarted by a fault
//     is measured from its own start plus that warm-up, when at least a sixth of the run remains.
//     Runs under 10 minutes print it without failing on it (no steady state yet).
// Faults: max(2, minutes / 3), spread over the middle of the run with jitter (a 3-minute run sees
// 2), in a shuffled order of the kinds. --no-topology --url URL --database-url URL runs the
// traffic and the checks against a Keel already running (no faults, no RSS check).
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import postgres from 'postgres'
import { chartSvg, type Bin } from './chart.js'

const run = promisify(execFile)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const root = join(import.meta.dirname, '..', '..')

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    out: { type: 'string', default: 'soak' },
    users: { type: 'string', default: '8' },
    'no-topology': { type: 'boolean', default: false },
    url: { type: 'string' },
    'database-url': { type: 'string' },
    seed: { type: 'string' },
  },
})
const minutes = Number(args.minutes)
if (!(minutes > 0)) throw new Error('--minutes must be a positive number')
const durationMs = minutes * 60_000
const warmupMs = durationMs / 6
const settleMs = Math.max(60_000, durationMs / 10) // after traffic: time for jobs and webhooks to finish
const FAULT_GRACE_MS = 10_000
const WEBHOOK_MAX_ATTEMPTS = 6 // Keel's default (config.ts)

// A seeded random, so a run can be repeated (--seed); the seed is in the summary.
let seed = Number(args.seed ?? Date.now() % 1_000_000)
const runSeed = seed
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
  return seed / 2_147_483_648
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!

// --- The topology --------------------------------------------------------------------------------
const topologyEnv = {
  ...process.env,
  // What the soak needs of every Keel process: webhooks to a receiver on loopback, per-user budgets
  // above what a few users driving the whole load send, and its users (signed up over HTTP, who
  // never open their verification email) allowed to subscribe webhooks.
  TOPOLOGY_KEEL_WEBHOOK_ALLOW_PRIVATE: 'true',
  TOPOLOGY_KEEL_RATE_LIMIT_MAX: '1000000',
  TOPOLOGY_KEEL_REQUIRE_VERIFIED_EMAIL_FOR: 'none',
}
async function topology(...command: string[]): Promise<string> {
  const tsx = join(root, 'node_modules', '.bin', 'tsx')
  const { stdout } = await run(tsx, [join(root, 'deploy', 'topology', 'topology.ts'), ...command], {
    cwd: root,
    env: topologyEnv,
    maxBuffer: 16 * 1024 * 1024,
  })
  return stdout
}
const parseEnv = (text: string) =>
  Object.fromEntries(
    text
      .split('\n')
      .map((line) => /^([A-Z_]+)=(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  )

// --- Recording every request ---------------------------------------------------------------------
interface Sample {
  at: number // ms since the start of traffic
  ms: number
  status: number // 0: no answer (connection refused or reset)
  action: string
}
const samples: Sample[] = []
let startedAt = 0
const now = () => Date.now() - startedAt

let baseUrl = ''
/** An answer's JSON, read loosely: the soak drives the API, the contract tests hold it to openapi.yaml. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any
async function call(
  action: string,
  method: string,
  path: string,
  { token, body, headers = {} }: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Json }> {
  const at = now()
  const began = performance.now()
  try {
    const response = await fetch(baseUrl + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    })
    const text = await response.text()
    samples.push({ at, ms: performance.now() - began, status: response.status, action })
    let json: Json
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = undefined
    }
    return { status: response.status, json }
  } catch {
    samples.push({ at, ms: performance.now() - began, status: 0, action })
    return { status: 0, json: undefined }
  }
}

// --- The webhook receiver ------------------------------------------------------------------------
const received = new Map<string, number>() // webhook-id (the delivery's id) -> arrivals
function startReceiver(): Promise<Server> {
  const server = createServer((req, res) => {
    const id = req.headers['webhook-id']
    req.resume()
    req.on('end', () => {
      if (typeof id === 'string') received.set(id, (received.get(id) ?? 0) + 1)
      res.writeHead(204).end()
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

// --- The actors ----------------------------------------------------------------------------------
interface User {
  email: string
  id: string
  token: string
  orders: { id: string; key: string }[]
}
interface OrderRecord {
  key: string
  userId: string
  productId: string
  quantity: number
  outcome: 'created' | 'refused' | 'unknown'
  status: number
  orderId?: string
  cancelled?: boolean
}
const password = 'Soak-Horse-9-Battery-staple'
const ordersPlaced: OrderRecord[] = []
const reports: { userId: string; id: string; token: string }[] = []
const products: { id: string; initialStock: number }[] = []
let soldOutProduct = ''
const replayMismatches: string[] = []

async function signUp(n: number): Promise<User> {
  const email = `soak-${runSeed}-${n}@example.test`
  for (let attempt = 0; ; attempt++) {
    const registered = await call('register', 'POST', '/api/v1/auth/register', { body: { email, password, name: `Soak ${n}` } })
    if (registered.status === 201 || registered.status === 409) break
    if (attempt > 10) throw new Error(`register ${email}: ${registered.status} ${JSON.stringify(registered.json)}`)
    await sleep(1000)
  }
  const token = await logIn(email)
  const me = await call('me', 'GET', '/api/v1/auth/me', { token })
  return { email, id: me.json.data.id as string, token, orders: [] }
}

async function logIn(email: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const { status, json } = await call('login', 'POST', '/api/v1/auth/login', { body: { email, password } })
    if (status === 200) return json.data.accessToken as string
    if (attempt > 10) throw new Error(`login ${email}: ${status}`)
    await sleep(1000)
  }
}

/** POST /orders with one Idempotency-Key, sent again after a 5xx or no answer (as a client should). */
async function placeOrder(user: User, productId: string, quantity: number): Promise<void> {
  const key = crypto.randomUUID()
  const record: OrderRecord = { key, userId: user.id, productId, quantity, outcome: 'unknown', status: 0 }
  ordersPlaced.push(record)
  for (let attempt = 0; attempt < 10; attempt++) {
    const { status, json } = await call('order', 'POST', '/api/v1/orders', {
      token: user.token,
      headers: { 'idempotency-key': key },
      body: { items: [{ productId, quantity }] },
    })
    record.status = status
    if (status === 201) {
      record.outcome = 'created'
      record.orderId = json.data.id as string
      user.orders.push({ id: record.orderId, key })
      // Now and then the same request again: the same order comes back, no second one.
      if (random() < 0.1) {
        const again = await call('order-replay', 'POST', '/api/v1/orders', {
          token: user.token,
          headers: { 'idempotency-key': key },
          body: { items: [{ productId, quantity }] },
        })
        if (again.status === 201 && again.json?.data?.id !== record.orderId) replayMismatches.push(key)
      }
      return
    }
    if (status >= 400 && status < 500 && status !== 429 && status !== 409) {
      record.outcome = 'refused'
      return
    }
    if (status === 409 && json?.error?.code !== 'IDEMPOTENCY_KEY_IN_USE') {
      record.outcome = 'refused' // out of stock: a definite refusal
      return
    }
    await sleep(500 * (attempt + 1)) // 5xx, 429, no answer, or the first attempt still running
  }
}

async function actorLoop(user: User, until: number): Promise<void> {
  while (now() < until) {
    const r = random()
    if (r < 0.3) await call('product', 'GET', `/api/v1/products/${pick(products).id}`)
    else if (r < 0.5) await call('products', 'GET', `/api/v1/products?limit=20&sort=-createdAt`)
    else if (r < 0.55) await call('login', 'POST', '/api/v1/auth/login', { body: { email: user.email, password } })
    else if (r < 0.75) await placeOrder(user, pick(products).id, 1 + Math.floor(random() * 3))
    else if (r < 0.78)
      await placeOrder(user, soldOutProduct, 1) // refused: out of stock
    else if (r < 0.8)
      await placeOrder(user, pick(products).id, 0) // refused: invalid quantity
    else if (r < 0.85 && user.orders.length > 0) {
      const [order] = user.orders.splice(Math.floor(random() * user.orders.length), 1)
      const { status } = await call('cancel', 'POST', `/api/v1/orders/${order!.id}/cancel`, { token: user.token })
      if (status === 200) {
        const record = ordersPlaced.find((o) => o.orderId === order!.id)
        if (record) record.cancelled = true
      }
    } else if (r < 0.93) await call('orders', 'GET', '/api/v1/orders?limit=10', { token: user.token })
    else if (r < 0.95) {
      const { status, json } = await call('report', 'POST', '/api/v1/reports', {
        token: user.token,
        body: {
          type: 'sales',
          from: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10),
          to: new Date(Date.now() + 86_400_000).toISOString().slice(0, 10),
        },
      })
      if (status === 202) reports.push({ userId: user.id, id: json.data.id as string, token: user.token })
    } else await call('webhooks', 'GET', '/api/v1/webhooks', { token: user.token })
    await sleep(10 + random() * 40)
  }
}

// --- Faults --------------------------------------------------------------------------------------
interface Fault {
  kind: string
  detail: string
  start: number
  end: number
  error?: string
}
const faults: Fault[] = []
const FAULT_KINDS = ['kill-api', 'kill-worker', 'kill-redis-master', 'pause-replay', 'restart-pgbouncer', 'rolling-restart'] as const

async function causeFault(kind: (typeof FAULT_KINDS)[number]): Promise<void> {
  const fault: Fault = { kind, detail: '', start: now(), end: 0 }
  faults.push(fault)
  console.log(`  [${(fault.start / 1000).toFixed(0)} s] fault: ${kind}`)
  try {
    switch (kind) {
      case 'kill-api':
      case 'kill-worker': {
        const name = `${kind === 'kill-api' ? 'api' : 'worker'}-${1 + Math.floor(random() * (kind === 'kill-api' ? 3 : 2))}`
        fault.detail = `${name} SIGKILLed, started 5 s later`
        await topology('kill', name)
        await sleep(5000)
        await topology('start', name)
        break
      }
      case 'kill-redis-master': {
        const killed = /^(\S+) killed/m.exec(await topology('kill', 'redis-master-1'))?.[1] ?? ''
        fault.detail = `${killed} (master of the first slots) SIGKILLed, started 15 s later`
        await sleep(15_000)
        await topology('start', killed)
        break
      }
      case 'pause-replay':
        fault.detail = 'WAL replay on the replica paused for 20 s'
        await topology('pause-replay')
        await sleep(20_000)
        await topology('resume-replay')
        break
      case 'restart-pgbouncer':
        fault.detail = 'PgBouncer stopped and started'
        await topology('restart', 'pgbouncer')
        break
      case 'rolling-restart':
        fault.detail = 'every API instance in turn: SIGTERM, drained, started'
        await topology('restart', 'api')
        break
    }
  } catch (err) {
    fault.error = (err as Error).message.split('\n').slice(0, 3).join(' ')
    console.log(`    fault failed: ${fault.error}`)
  }
  fault.end = now()
  console.log(`  [${(fault.end / 1000).toFixed(0)} s] fault over: ${fault.detail}`)
}

/** Fault start times: max(2, minutes / 3), spread over 15%..80% of the run with jitter. */
function faultSchedule(): number[] {
  const count = Math.max(2, Math.round(minutes / 3))
  const from = durationMs * 0.15
  const span = durationMs * 0.65
  return Array.from({ length: count }, (_, i) => from + (span / count) * (i + 0.2 + random() * 0.6))
}

// --- RSS -----------------------------------------------------------------------------------------
interface RssSample {
  at: number
  instance: string
  started: number // process start (s since epoch): a new value is a new process
  rss: number
}
const rssSamples: RssSample[] = []
async function sampleRss(instances: Record<string, string>): Promise<void> {
  await Promise.all(
    Object.entries(instances).map(async ([instance, url]) => {
      try {
        const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3000) })).text()
        const rss = Number(/^keel_process_resident_memory_bytes (\S+)/m.exec(text)?.[1])
        const started = Number(/^keel_process_start_time_seconds (\S+)/m.exec(text)?.[1])
        if (rss > 0) rssSamples.push({ at: now(), instance, started, rss })
      } catch {
        // down (a fault): no sample
      }
    }),
  )
}

// --- Checks --------------------------------------------------------------------------------------
interface Check {
  name: string
  ok: boolean
  detail: string
}

async function checks(databaseUrl: string, users: User[], withFaults: boolean): Promise<Check[]> {
  const sql = postgres(databaseUrl, { max: 2, prepare: false, onnotice: () => {} })
  const result: Check[] = []
  const add = (name: string, ok: boolean, detail: string) => result.push({ name, ok, detail })
  try {
    const userIds = users.map((u) => u.id)
    const rows = await sql<{ id: string; user_id: string; status: string }[]>`
      select id, user_id, status from orders where user_id in ${sql(userIds)}`
    const inDb = new Map(rows.map((r) => [r.id, r]))
    const created = ordersPlaced.filter((o) => o.outcome === 'created')
    const refused = ordersPlaced.filter((o) => o.outcome === 'refused')
    const unknown = ordersPlaced.filter((o) => o.outcome === 'unknown')
    const createdIds = new Set(created.map((o) => o.orderId!))
    const missing = created.filter((o) => !inDb.has(o.orderId!))
    const keys = await sql<{ key: string; status: number; id: string | null }[]>`
      select key, response_status as status, response_body #>> '{data,id}' as id from idempotency_keys where user_id in ${sql(userIds)}`
    const keyRow = new Map(keys.map((k) => [k.key, k]))
    // An order in the database that no 201 names: allowed only for a request whose answer was lost.
    const unknownIds = new Set(unknown.map((o) => keyRow.get(o.key)?.id).filter(Boolean))
    const extra = rows.filter((r) => !createdIds.has(r.id) && !unknownIds.has(r.id))
    add(
      'orders answered 201 are in the database exactly once',
      missing.length === 0 && extra.length === 0 && createdIds.size === created.length && replayMismatches.length === 0,
      `${created.length} answered 201, ${rows.length} in the database; missing ${missing.length}, unaccounted ${extra.length}, ` +
        `replays answered with another order ${replayMismatches.length}, answers lost after every retry ${unknown.length} (${unknownIds.size} of them placed)`,
    )
    const stock = await sql<{ id: string; stock: number }[]>`select id, stock from products where id in ${sql(products.map((p) => p.id))}`
    const sold = await sql<{ product_id: string; quantity: number }[]>`
      select i.product_id, sum(i.quantity)::int as quantity from order_items i join orders o on o.id = i.order_id
      where o.user_id in ${sql(userIds)} and o.status <> 'cancelled' group by i.product_id`
    const soldBy = new Map(sold.map((s) => [s.product_id, s.quantity]))
    const wrongStock = products.filter((p) => stock.find((s) => s.id === p.id)!.stock !== p.initialStock - (soldBy.get(p.id) ?? 0))
    const cancelled = rows.filter((r) => r.status === 'cancelled').length
    add(
      'stock taken once (initial stock − quantities of orders not cancelled)',
      wrongStock.length === 0,
      `${products.length} products, ${wrongStock.length} off; ${cancelled} orders cancelled (their stock given back)`,
    )
    const refusedPlaced = refused.filter((o) => {
      const row = keyRow.get(o.key)
      return row !== undefined && row.status === 201
    })
    add(
      'orders answered with an error are not in the database',
      refusedPlaced.length === 0,
      `${refused.length} refused (out of stock, invalid), ${refusedPlaced.length} of them placed anyway`,
    )

    const deliveries = await sql<{ id: string; status: string; attempts: number; order_id: string | null }[]>`
      select d.id, d.status, d.attempts, d.payload #>> '{data,id}' as order_id
      from webhook_deliveries d join webhook_subscriptions s on s.id = d.webhook_id
      where s.owner_id in ${sql(userIds)} and d.event = 'order.created'`
    const deliveredOrders = new Set(deliveries.map((d) => d.order_id))
    const undelivered = created.filter((o) => !deliveredOrders.has(o.orderId!))
    const notArrived = deliveries.filter((d) => d.status !== 'dead' && !received.has(d.id))
    const tooMany = deliveries.filter((d) => (received.get(d.id) ?? 0) > WEBHOOK_MAX_ATTEMPTS)
    const dead = deliveries.filter((d) => d.status === 'dead').length
    const duplicates = [...received.values()].filter((n) => n > 1).length
    add(
      'webhook deliveries of accepted orders arrived (≤ retry policy) or are dead',
      undelivered.length === 0 && notArrived.length === 0 && tooMany.length === 0,
      `${deliveries.length} deliveries of order.created; orders without one ${undelivered.length}, not arrived ${notArrived.length}, ` +
        `over ${WEBHOOK_MAX_ATTEMPTS} arrivals ${tooMany.length}, dead ${dead}, arrived more than once ${duplicates}`,
    )

    const reportRows = reports.length
      ? await sql<{ id: string; status: string }[]>`select id, status from reports where id in ${sql(reports.map((r) => r.id))}`
      : []
    const unfinished = reportRows.filter((r) => r.status !== 'completed')
    add(
      'every report requested finished',
      unfinished.length === 0 && reportRows.length === reports.length,
      `${reports.length} requested, ${reportRows.filter((r) => r.status === 'completed').length} completed, ` +
        `${unfinished.map((r) => r.status).join(', ') || 'none unfinished'}`,
    )
  } finally {
    await sql.end({ timeout: 2 })
  }

  const during = (at: number) => faults.some((f) => at >= f.start && at <= f.end + FAULT_GRACE_MS)
  const serverErrors = samples.filter((s) => s.status >= 500 || s.status === 0)
  // A 503 (documented: database, queue or shedding) or a cut connection (requests in flight on a
  // killed process) is allowed during a fault; any other 5xx never is, nor anything outside a fault.
  const bad = serverErrors.filter((s) => !((s.status === 503 || s.status === 0) && during(s.at)))
  const byStatus = (list: Sample[]) =>
    Object.entries(
      list.reduce<Record<string, number>>((acc, s) => ({ ...acc, [s.status || 'no answer']: (acc[s.status || 'no answer'] ?? 0) + 1 }), {}),
    )
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')
  add(
    'no 5xx but 503s (and cut connections) during a fault (start to 10 s after its end)',
    bad.length === 0,
    `${serverErrors.length} of ${samples.length} requests 5xx or unanswered (${byStatus(serverErrors) || 'none'}); ` +
      `outside the rule ${bad.length}${bad.length ? ` (${byStatus(bad)}; at ${[...new Set(bad.map((s) => Math.round(s.at / 1000)))].slice(0, 12).join(', ')} s)` : ''}`,
  )

  if (withFaults) {
    const growth: string[] = []
    const skipped: string[] = []
    let ok = true
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    for (const instance of [...new Set(rssSamples.map((s) => s.instance))].sort()) {
      const series = rssSamples.filter((s) => s.instance === instance)
      const last = series.at(-1)!
      const own = series.filter((s) => s.started === last.started) // the process running at the end
      const from = Math.max(warmupMs, own[0]!.at + warmupMs)
      const measured = own.filter((s) => s.at >= from)
      if (measured.length < 6 || durationMs - from < durationMs / 6) {
        skipped.push(instance)
        continue
      }
      // The median of the first and of the last third of the samples after warm-up (one sample is a
      // garbage collector's moment, not a trend).
      const third = Math.floor(measured.length / 3)
      const base = median(measured.slice(0, third).map((s) => s.rss))
      const end = median(measured.slice(-third).map((s) => s.rss))
      const pct = ((end - base) / base) * 100
      if (pct >= 10) ok = false
      growth.push(`${instance} ${(base / 2 ** 20).toFixed(0)}→${(end / 2 ** 20).toFixed(0)} MiB (${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%)`)
    }
    // Under 10 minutes there is no steady state to judge: the figures are printed, not gated on.
    const judged = minutes >= 10
    add(
      `RSS of every instance flat after warm-up (growth < 10% from ${(warmupMs / 1000).toFixed(0)} s to the end)${judged ? '' : ' — informational under 10 minutes'}`,
      !judged || (ok && growth.length > 0),
      `${growth.join('; ')}${skipped.length ? `; restarted too late to measure: ${skipped.join(', ')}` : ''}`,
    )
    const failedFaults = faults.filter((f) => f.error)
    add('every fault was caused and recovered from', failedFaults.length === 0, `${faults.length} faults, ${failedFaults.length} failed`)
  }
  return result
}

// --- The chart's bins ----------------------------------------------------------------------------
function bins(binMs = 10_000): Bin[] {
  const count = Math.ceil(Math.max(durationMs, ...samples.map((s) => s.at)) / binMs)
  return Array.from({ length: count }, (_, i) => {
    const inBin = samples.filter((s) => s.at >= i * binMs && s.at < (i + 1) * binMs)
    const ms = inBin.map((s) => s.ms).sort((a, b) => a - b)
    const q = (p: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]! : 0)
    return {
      t: (i * binMs) / 1000,
      rps: inBin.length / (binMs / 1000),
      p50: q(0.5),
      p99: q(0.99),
      errors: inBin.filter((s) => s.status >= 500 || s.status === 0).length,
    }
  })
}

// --- Main ----------------------------------------------------------------------------------------
async function main(): Promise<void> {
  const withTopology = !args['no-topology']
  let env: Record<string, string>
  if (withTopology) {
    console.log(`soak: ${minutes} min; bringing the topology up (TOPOLOGY_PORT_BASE=${process.env.TOPOLOGY_PORT_BASE ?? 17000})...`)
    await topology('down').catch(() => '')
    env = parseEnv(await topology('up'))
  } else {
    if (!args.url || !args['database-url']) throw new Error('--no-topology needs --url and --database-url')
    env = { KEEL_URL: args.url, DATABASE_URL: args['database-url'], API_URLS: args.url, WORKER_URLS: '' }
  }
  baseUrl = env.KEEL_URL!
  const instances: Record<string, string> = {}
  env.API_URLS?.split(',')
    .filter(Boolean)
    .forEach((url, i) => (instances[`api-${i + 1}`] = url))
  env.WORKER_URLS?.split(',')
    .filter(Boolean)
    .forEach((url, i) => (instances[`worker-${i + 1}`] = url))

  const receiver = await startReceiver()
  const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`
  let exitCode: number
  try {
    startedAt = Date.now()
    const users: User[] = []
    for (let i = 0; i < Number(args.users); i++) users.push(await signUp(i))
    for (const user of users) {
      const { status } = await call('webhook', 'POST', '/api/v1/webhooks', {
        token: user.token,
        // A webhook outlives the session: creating one takes the current password.
        body: { url: hookUrl, events: ['order.created', 'order.cancelled'], currentPassword: password },
      })
      if (status !== 201) throw new Error(`webhook subscription: ${status}`)
    }
    for (let i = 0; i < 20; i++) {
      const initialStock = 1_000_000
      const { status, json } = await call('create-product', 'POST', '/api/v1/products', {
        token: users[i % users.length]!.token,
        body: { name: `Soak product ${i}`, description: 'soak', priceCents: 100 + i, stock: initialStock },
      })
      if (status !== 201) throw new Error(`product: ${status} ${JSON.stringify(json)}`)
      products.push({ id: json.data.id as string, initialStock })
    }
    const soldOut = await call('create-product', 'POST', '/api/v1/products', {
      token: users[0]!.token,
      body: { name: 'Soak sold out', description: 'soak', priceCents: 100, stock: 0 },
    })
    soldOutProduct = soldOut.json.data.id as string

    const trafficEnd = durationMs
    console.log(`traffic: ${users.length} users for ${minutes} min through ${baseUrl}; warm-up ${(warmupMs / 1000).toFixed(0)} s`)
    const rssTimer = setInterval(() => void sampleRss(instances), 10_000)
    void sampleRss(instances)
    const actors = users.map((user) => actorLoop(user, trafficEnd))
    const faultRun = (async () => {
      if (!withTopology) return
      const kinds = [...FAULT_KINDS].sort(() => random() - 0.5)
      const schedule = faultSchedule()
      console.log(`faults at ${schedule.map((t) => `${(t / 1000).toFixed(0)} s`).join(', ')}`)
      for (const [i, at] of schedule.entries()) {
        if (at > now()) await sleep(at - now())
        await causeFault(kinds[i % kinds.length]!)
      }
    })()
    let lastLog = 0
    const progress = setInterval(() => {
      const recent = samples.filter((s) => s.at >= lastLog)
      lastLog = now()
      console.log(
        `  [${(now() / 1000).toFixed(0)} s] ${(recent.length / 30).toFixed(0)} req/s, ${recent.filter((s) => s.status >= 500 || s.status === 0).length} 5xx/unanswered in 30 s`,
      )
    }, 30_000)
    await Promise.all([...actors, faultRun])
    clearInterval(progress)
    await sampleRss(instances)
    clearInterval(rssTimer)

    // Let the workers finish: webhook deliveries and reports, up to settleMs.
    console.log(`traffic over; waiting up to ${(settleMs / 1000).toFixed(0)} s for deliveries and reports to finish`)
    const sql = postgres(env.DATABASE_URL!, { max: 1, prepare: false, onnotice: () => {} })
    const settleUntil = Date.now() + settleMs
    while (Date.now() < settleUntil) {
      const [row] = await sql<{ pending: number }[]>`
        select (select count(*) from webhook_deliveries where status in ('pending', 'failed'))::int
             + (select count(*) from reports where status in ('queued', 'running'))::int as pending`
      if (row!.pending === 0) break
      await sleep(2000)
    }
    await sql.end({ timeout: 2 })

    const results = await checks(env.DATABASE_URL!, users, withTopology)
    const allBins = bins()
    const summary = {
      minutes,
      seed: runSeed,
      startedAt: new Date(startedAt).toISOString(),
      users: users.length,
      warmupSeconds: warmupMs / 1000,
      requests: samples.length,
      requestsPerSecond: Number((samples.length / (durationMs / 1000)).toFixed(1)),
      byAction: Object.fromEntries(
        [...new Set(samples.map((s) => s.action))].sort().map((a) => [a, samples.filter((s) => s.action === a).length]),
      ),
      latencyMs: (() => {
        const ms = samples.map((s) => s.ms).sort((a, b) => a - b)
        const q = (p: number) => Number(ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!.toFixed(1))
        return { p50: q(0.5), p99: q(0.99), max: q(1) }
      })(),
      orders: {
        created: ordersPlaced.filter((o) => o.outcome === 'created').length,
        refused: ordersPlaced.filter((o) => o.outcome === 'refused').length,
        unknown: ordersPlaced.filter((o) => o.outcome === 'unknown').length,
        cancelled: ordersPlaced.filter((o) => o.cancelled).length,
      },
      webhookArrivals: [...received.values()].reduce((a, b) => a + b, 0),
      reports: reports.length,
      faults: faults.map((f) => ({ ...f, start: f.start / 1000, end: f.end / 1000 })),
      checks: results,
      passed: results.every((c) => c.ok),
    }
    const out = join(root, args.out!)
    await mkdir(out, { recursive: true })
    await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`)
    await writeFile(
      join(out, 'chart.svg'),
      chartSvg(
        allBins,
        summary.faults,
        `Keel soak: ${minutes} min, ${summary.requests} requests, ${faults.length} faults (${summary.startedAt.slice(0, 16)}Z)`,
      ),
    )
    console.log(
      `\n${samples.length} requests (${summary.requestsPerSecond}/s), p50 ${summary.latencyMs.p50} ms, p99 ${summary.latencyMs.p99} ms`,
    )
    for (const c of results) console.log(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}\n        ${c.detail}`)
    console.log(`\nwrote ${join(args.out!, 'summary.json')} and ${join(args.out!, 'chart.svg')}`)
    exitCode = summary.passed ? 0 : 1
  } finally {
    receiver.close()
    if (withTopology) await topology('down').catch((err: Error) => console.error(`topology down: ${err.message}`))
  }
  process.exit(exitCode)
}

main().catch((err: unknown) => {
  console.error('soak failed:', err)
  process.exit(1)
})
