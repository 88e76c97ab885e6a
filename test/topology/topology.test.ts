// Keel through the rehearsed production shape (`npm run topology`): HAProxy in front of 3 API
// instances and 2 workers, PgBouncer in transaction pooling, a primary and a streaming replica, a
// Redis Cluster of 3 masters with a replica each — every part a real process. The topology is
// brought up once for this file (its subtests run one after another) and taken down at the end.
// Run with `npm run test:topology` (not part of `npm test`: it takes minutes and fixed ports,
// TOPOLOGY_PORT_BASE, default 17050 here so a topology of your own at 17000 can stay up).
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { Redis } from 'ioredis'
import { missingBinaries } from '../../deploy/topology/topology.js'
import { projectRoot } from '../../src/lib/paths.js'
import { startServer } from '../helpers/server-process.js'
import { startLoad } from '../helpers/load.js'
import { waitFor } from '../helpers/wait.js'

const missing = missingBinaries()
const skip = missing.length
  ? `needs ${missing.join(' and ')}: apt-get install -y ${missing.map((b) => (b === 'redis-cli' ? 'redis-tools' : b)).join(' ')}`
  : false

const env = { ...process.env, TOPOLOGY_PORT_BASE: process.env.TOPOLOGY_PORT_BASE ?? '17050' }
/** Runs `npm run topology -- <args>` (as tsx runs it) and returns its stdout. */
async function topology(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'deploy/topology/topology.ts', ...args], {
    cwd: projectRoot,
    env,
    maxBuffer: 16 * 1024 * 1024,
  })
  return stdout
}

const json = { 'content-type': 'application/json' }
const tag = randomBytes(3).toString('hex')
let endpoint: Record<string, string> = {}
let keel = ''
let apiUrls: string[] = []
let primary: postgres.Sql

/** A distinct client address per use (X-Forwarded-For, believed from HAProxy): budgets per address stay apart. */
let nextAddress = 0
const address = () => `198.51.100.${++nextAddress}`

async function account(name: string) {
  const from = { 'x-forwarded-for': address() }
  const body = { email: `${name}-${tag}@example.test`, password: 'Correct-Horse-9-Battery', name }
  const registered = await fetch(`${keel}/api/v1/auth/register`, {
    method: 'POST',
    headers: { ...json, ...from },
    body: JSON.stringify(body),
  })
  if (registered.status !== 201) throw new Error(`register ${name}: ${registered.status} ${await registered.text()}`)
  const login = await fetch(`${keel}/api/v1/auth/login`, {
    method: 'POST',
    headers: { ...json, ...from },
    body: JSON.stringify({ email: body.email, password: body.password }),
  })
  const data = ((await login.json()) as { data: { accessToken: string; user: { id: string } } }).data
  return { id: data.user.id, email: body.email, headers: { ...json, authorization: `Bearer ${data.accessToken}` } }
}

async function createProduct(headers: Record<string, string>, name: string, base = keel) {
  const res = await fetch(`${base}/api/v1/products`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name, priceCents: 1000, stock: 10 }),
  })
  if (res.status !== 201) throw new Error(`create product: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { data: { id: string; priceCents: number } }).data
}

const pids = async () =>
  (JSON.parse(readFileSync(join(endpoint.TOPOLOGY_DIR!, 'state.json'), 'utf8')) as { pids: Record<string, number> }).pids

t.before(async () => {
  if (skip) return
  await topology('down') // (what an interrupted run left behind, stopped by its recorded PIDs)
  const out = await topology('up')
  endpoint = Object.fromEntries(
    out.split('\n').flatMap((line) => (/^([A-Z_]+)=(.*)$/.exec(line) ? [line.split(/=(.*)/s).slice(0, 2)] : [])),
  )
  keel = endpoint.KEEL_URL!
  apiUrls = endpoint.API_URLS!.split(',')
  primary = postgres(endpoint.DATABASE_URL!, { max: 1, onnotice: () => {} })
})
t.teardown(async () => {
  if (skip) return
  await primary?.end({ timeout: 1 })
  await topology('down')
})

t.test('up prints the endpoints, each on a line of its own', { skip }, async (t) => {
  t.match(endpoint.KEEL_URL, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.match(endpoint.DATABASE_URL, /^postgres:\/\//)
  t.match(endpoint.DATABASE_READ_URL, /^postgres:\/\//)
  t.equal(endpoint.REDIS_CLUSTER_NODES!.split(',').length, 6)
  t.equal(apiUrls.length, 3)
  const status = await topology('status')
  t.equal(status.match(/ ready /g)?.length, 15, 'status: 15 processes ready')
  t.match(status, /replica\s+\d+\s+\d+\s+ready\s+replaying/)
})

t.test('over the balancer, a rate limit is exact across the 3 instances', { skip }, async (t) => {
  const from = { 'x-forwarded-for': address() }
  const answers = await Promise.all(
    Array.from({ length: 330 }, () =>
      fetch(`${keel}/api/v1/products?limit=1`, { headers: from }).then(async (res) => {
        await res.arrayBuffer()
        return { status: res.status, instance: res.headers.get('x-keel-instance') }
      }),
    ),
  )
  const counts = new Map<number, number>()
  for (const a of answers) counts.set(a.status, (counts.get(a.status) ?? 0) + 1)
  const statuses = [...counts].map(([status, n]) => `${status}: ${n}`)
  t.equal(answers.filter((a) => a.status === 200).length, 300, `300 admitted (RATE_LIMIT_MAX); answers ${statuses.join(', ')}`)
  t.equal(answers.filter((a) => a.status === 429).length, 30, 'the other 30 refused')
  t.same([...new Set(answers.map((a) => a.instance))].sort(), ['api-1', 'api-2', 'api-3'], 'answered by all three instances')
})

t.test('a write on one instance is never read stale on another', { skip }, async (t) => {
  const seller = await account('writer')
  const product = await createProduct(seller.headers, 'Cached lamp', apiUrls[0])
  // Each instance reads it (and caches it), then one instance changes it: every instance reads the change.
  for (const base of apiUrls) t.equal((await fetch(`${base}/api/v1/products/${product.id}`)).status, 200)
  for (let price = 2000; price < 2003; price++) {
    const writer = apiUrls[price % 3]!
    const patched = await fetch(`${writer}/api/v1/products/${product.id}`, {
      method: 'PATCH',
      headers: seller.headers,
      body: JSON.stringify({ priceCents: price }),
    })
    t.equal(patched.status, 200)
    for (const base of apiUrls) {
      const read = (await (await fetch(`${base}/api/v1/products/${product.id}`)).json()) as { data: { priceCents: number } }
      t.equal(read.data.priceCents, price, `written on ${writer}, read on ${base}`)
    }
  }
})

t.test('a logout ends the session on every instance', { skip }, async (t) => {
  const user = await account('leaver')
  for (const base of apiUrls)
    t.equal((await fetch(`${base}/api/v1/auth/me`, { headers: user.headers })).status, 200, `signed in on ${base}`)
  t.equal((await fetch(`${apiUrls[0]}/api/v1/auth/logout`, { method: 'POST', headers: user.headers, body: '{}' })).status, 204)
  for (const base of apiUrls)
    t.equal((await fetch(`${base}/api/v1/auth/me`, { headers: user.headers })).status, 401, `signed out on ${base}`)
})

t.test('each job runs once across the 2 workers', { skip }, async (t) => {
  // A registration queues a welcome email (an event, then a send-email job): each is sent once.
  const names = Array.from({ length: 12 }, (_, i) => `jobs-${i}`)
  await Promise.all(names.map((name) => account(name)))
  const addresses = names.map((name) => `${name}-${tag}@example.test`)
  const sent = () => {
    const lines = [1, 2].flatMap((i) => readFileSync(join(endpoint.TOPOLOGY_DIR!, 'logs', `worker-${i}.log`), 'utf8').split('\n'))
    return (
      lines
        .filter((l) => l.includes('email recorded as sent'))
        .map((l) => JSON.parse(l) as { to: string; subject: string; pid: number })
        // Sign-up also sends a verification email: the welcome emails are the ones counted here.
        .filter((e) => e.subject === 'Welcome to Keel' && addresses.includes(e.to))
        .map((e) => ({ to: e.to, worker: e.pid }))
    )
  }
  await waitFor(() => new Set(sent().map((e) => e.to)).size === addresses.length, { timeoutMs: 60_000, what: 'every welcome email' })
  await new Promise((resolve) => setTimeout(resolve, 3000)) // (a second delivery would come within a poll or two)
  const deliveries = sent()
  t.equal(deliveries.length, addresses.length, `${addresses.length} emails, each delivered once`)
  t.comment(`delivered by ${new Set(deliveries.map((d) => d.worker)).size} worker process(es)`)
  const rows = await primary<
    { attempts: number }[]
  >`select attempts from email_outbox where template = 'welcome' and "to" in ${primary(addresses)}`
  t.same(
    rows.map((r) => r.attempts),
    addresses.map(() => 1),
    'one attempt each',
  )
})

t.test('a user reads its own write while replay on the replica is paused', { skip }, async (t) => {
  const seller = await account('ryw')
  await topology('pause-replay')
  t.teardown(() => topology('resume-replay'))
  const product = await createProduct(seller.headers, 'Fresh lamp')
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${keel}/api/v1/products?ownerId=${seller.id}`, { headers: seller.headers })
    const list = (await res.json()) as { data: { id: string }[] }
    t.ok(
      list.data.some((p) => p.id === product.id),
      `its own list shows it (instance ${res.headers.get('x-keel-instance')})`,
    )
  }
  const replica = postgres(endpoint.DATABASE_REPLICA_URL!, { max: 1, onnotice: () => {} })
  t.teardown(() => replica.end({ timeout: 1 }))
  t.equal((await replica`select 1 from products where id = ${product.id}`).length, 0, 'the replica does not have it yet')
})

t.test('the replica stopped: reads still answer, readiness says degraded', { skip }, async (t) => {
  await topology('stop', 'replica')
  t.teardown(() => topology('start', 'replica'))
  for (const base of apiUrls) {
    t.equal((await fetch(`${base}/api/v1/products?limit=5`)).status, 200, `a list answers on ${base}`)
    const ready = await waitFor(
      async () => {
        const res = await fetch(`${base}/health/ready`)
        const body = (await res.json()) as { status: string }
        return body.status === 'degraded' && { status: res.status, body }
      },
      { timeoutMs: 15_000, what: 'readiness to say degraded' },
    )
    t.equal(ready.status, 200, `readiness 200 degraded on ${base} (the balancer keeps it)`)
  }
})

t.test('a Redis master killed: its replica takes over, requests answer meanwhile', { skip }, async (t) => {
  const seller = await account('redis')
  const product = await createProduct(seller.headers, 'Clustered lamp')
  await fetch(`${keel}/api/v1/products/${product.id}`)
  const keys = await Promise.all(
    endpoint.REDIS_CLUSTER_NODES!.split(',').map(async (node) => {
      const redis = new Redis(Number(node.split(':')[1]), '127.0.0.1', { lazyConnect: true })
      try {
        await redis.connect()
        return (await redis.info('replication')).includes('role:master') ? await redis.dbsize() : 0
      } finally {
        redis.disconnect()
      }
    }),
  )
  t.ok(keys.filter((n) => n > 0).length >= 2, `Keel's cache and counters are spread over the cluster's masters (keys: ${keys.join(', ')})`)
  const load = startLoad(
    async () => {
      const res = await fetch(`${keel}/api/v1/products/${product.id}`, { headers: { 'x-forwarded-for': address() } })
      await res.arrayBuffer()
      return res.status
    },
    { concurrency: 4 },
  )
  const killed = /^(redis-\d+) killed/m.exec(await topology('kill', 'redis-master-1'))![1]!
  t.teardown(() => topology('start', killed))
  // The failover: three masters answer again (cluster-node-timeout 2 s, then an election).
  await waitFor(async () => ((await topology('status')).match(/ready\s+master/g)?.length ?? 0) === 3, {
    timeoutMs: 30_000,
    intervalMs: 500,
    what: 'a replica to take over',
  })
  const after = load.samples.length
  await waitFor(() => load.samples.length > after + 50, { what: 'requests after the failover' })
  await load.stop()
  const statuses = load.samples.map((s) => s.result)
  t.same([...new Set(statuses)], [200], `all ${statuses.length} requests answered 200 (RATE_LIMIT_FAIL_OPEN=true)`)
})

t.test('PgBouncer restarted: Keel recovers by itself', { skip }, async (t) => {
  const seller = await account('bouncer')
  const before = await pids()
  await topology('restart', 'pgbouncer')
  const restartedAt = Date.now()
  const product = await waitFor(() => createProduct(seller.headers, 'Pooled lamp').catch(() => undefined), {
    timeoutMs: 15_000,
    what: 'a write to succeed again',
  })
  t.ok(product.id, `writes succeed again (${Date.now() - restartedAt} ms after PgBouncer was back)`)
  t.equal((await fetch(`${keel}/api/v1/products?limit=1`)).status, 200, 'reads too')
  const after = await pids()
  t.same(
    ['api-1', 'api-2', 'api-3', 'worker-1', 'worker-2'].map((n) => after[n]),
    ['api-1', 'api-2', 'api-3', 'worker-1', 'worker-2'].map((n) => before[n]),
    'no Keel process was restarted',
  )
})

t.test('a rolling restart of the 3 API instances under constant load loses no request', { skip }, async (t) => {
  const seller = await account('rolling')
  const product = await createProduct(seller.headers, 'Rolling lamp')
  type Outcome = { status?: number; error?: string }
  const outcome = async (res: Promise<Response>): Promise<Outcome> => {
    try {
      const r = await res
      await r.arrayBuffer()
      return { status: r.status }
    } catch (err) {
      return { error: String((err as { cause?: { code?: string } }).cause?.code ?? err) }
    }
  }
  const reads = startLoad(() => outcome(fetch(`${keel}/api/v1/products/${product.id}`, { headers: { 'x-forwarded-for': address() } })), {
    concurrency: 3,
  })
  const writes = startLoad(
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 250)) // (within the user's 300 a minute)
      return outcome(
        fetch(`${keel}/api/v1/products/${product.id}`, { method: 'PATCH', headers: seller.headers, body: JSON.stringify({ stock: 10 }) }),
      )
    },
    { concurrency: 1 },
  )
  const before = await pids()
  await topology('restart', 'api')
  await reads.stop()
  await writes.stop()
  const after = await pids()
  t.ok(
    ['api-1', 'api-2', 'api-3'].every((n) => after[n] !== before[n]),
    'every API instance is a new process',
  )
  const all = [...reads.samples, ...writes.samples].map((s) => s.result)
  const lost = all.filter((o) => o.status !== 200)
  t.same(lost, [], `${all.length} requests (${writes.samples.length} writes), none lost`)
})

t.test('the connection budget: what the instances and workers open, after the load above', { skip }, async (t) => {
  // Direct to the primary: pg-boss's pool in each Keel process (DATABASE_DIRECT_URL). Through
  // PgBouncer: each process's pools (DATABASE_URL, DATABASE_READ_URL), multiplexed onto at most
  // default_pool_size server connections per database.
  const byApp = await primary<{ app: string; n: number }[]>`
    select coalesce(nullif(application_name, ''), backend_type) as app, count(*)::int as n
    from pg_stat_activity where datname = 'keel' group by 1 order by 1`
  t.comment(`primary, by application_name: ${byApp.map((r) => `${r.app} ${r.n}`).join(', ')}`)
  const direct = byApp.find((r) => r.app === 'keel-queue')?.n ?? 0
  t.ok(direct <= 5 * 5, `pg-boss direct connections: ${direct} ≤ 5 processes × max(2, DB_POOL_MAX / 2)`)
  const admin = postgres(endpoint.PGBOUNCER_ADMIN_URL!, { max: 1, prepare: false, fetch_types: false, onnotice: () => {} })
  t.teardown(() => admin.end({ timeout: 1 }))
  // (The admin console speaks only the simple query protocol.)
  type Pool = { database: string; sv_active: number; sv_idle: number; sv_used: number }
  const pools = await admin.unsafe<Pool[]>('SHOW POOLS').simple()
  const clients = await admin.unsafe<{ database: string }[]>('SHOW CLIENTS').simple()
  for (const database of ['keel', 'keel_replica']) {
    const pool = pools.find((p) => p.database === database) // (none until a client has connected)
    const servers = pool ? Number(pool.sv_active) + Number(pool.sv_idle) + Number(pool.sv_used) : 0
    const clientCount = clients.filter((c) => c.database === database).length
    t.comment(`PgBouncer ${database}: ${clientCount} client connections, ${servers} server connections`)
    t.ok(clientCount <= 5 * 10, `${database}: ${clientCount} clients ≤ 5 processes × DB_POOL_MAX`)
    t.ok(servers <= 20, `${database}: ${servers} server connections ≤ default_pool_size (20)`)
  }
})

t.test('two instances started together on a migrated database apply nothing twice', { skip }, async (t) => {
  const migrations = async () => (await primary<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`)[0]!.n
  const queues = async () => (await primary<{ n: number }[]>`select count(*)::int as n from pgboss_v12.queue`)[0]!.n
  const [migrationsBefore, queuesBefore] = [await migrations(), await queues()]
  const keelEnv = {
    NODE_ENV: 'production',
    ROLE: 'api',
    JWT_SECRET: randomBytes(32).toString('hex'),
    DATABASE_URL: endpoint.DATABASE_POOLED_URL!,
    DATABASE_DIRECT_URL: endpoint.DATABASE_URL!,
    DATABASE_READ_URL: endpoint.DATABASE_READ_URL!,
    DB_PREPARE: 'false',
    REDIS_CLUSTER_NODES: endpoint.REDIS_CLUSTER_NODES!,
  }
  const [a, b] = await Promise.all([startServer(t, keelEnv), startServer(t, keelEnv)])
  for (const server of [a, b]) t.equal((await fetch(`${server.base}/health/ready`)).status, 200)
  t.equal(await migrations(), migrationsBefore, 'no migration recorded again')
  t.equal(await queues(), queuesBefore, 'no queue created again')
  a.child.kill('SIGTERM')
  b.child.kill('SIGTERM')
  t.same(await Promise.all([a.exited, b.exited]), [0, 0])
})
