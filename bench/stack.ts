// Keel side by side with the bare stack it is built on and with the stock assembly a team would build
// by hand from the popular plugins (bench/stock-server.ts says what it holds), in one run. The three
// servers run as processes of their own on the same data (a scratch database seeded with BENCH_PRODUCTS products), pinned to CPU 0;
// the load generator (autocannon, 50 connections) runs pinned to CPU 1; PostgreSQL and Redis float.
// Keel runs its production build with production defaults (NODE_ENV=production, info logging to
// /dev/null, rate limiting on with Redis — with a limit no client reaches — ROLE=api, as an API
// instance behind which workers scale apart; the jobs bench measures those). Each scenario is warmed
// up on each, then measured in BENCH_ROUNDS rounds alternating bare, stock and Keel (a shared machine's
// noise lands on all three): the median of each figure — req/s, p50, p99, and the CPU time each
// request cost the server (user + system, from /proc/<pid>/stat, which noise moves less than req/s) —
// the ratios, and each server's RSS at the end. Then what the difference is made of: Keel again with request logging off
// (LOG_LEVEL=warn), rate limiting off, and both, on the same scenarios (a second Keel process).
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { benchDatabase } from './_database.js'
import { freePort } from '../test/helpers/redis-server.js'
import { waitFor } from '../test/helpers/wait.js'
import { encodeCursor } from '../src/lib/pagination.js'
import type { LoadResult, LoadSpec } from './load.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const WARMUP = Math.min(3, SECONDS)
const PRODUCTS = Number(process.env.BENCH_PRODUCTS ?? 100_000)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const HOT = 1000
const REDIS_URL = process.env.REDIS_URL
if (!REDIS_URL) throw new Error('bench/stack.ts needs REDIS_URL (both servers cache in Redis)')
const root = new URL('..', import.meta.url).pathname
if (!existsSync(join(root, 'dist', 'src', 'app', 'server.js'))) throw new Error('run `npm run build` first (bench/run.ts does)')

const database = await benchDatabase()
const sql = postgres(database.url, { max: 2, onnotice: () => {} })
const scratch = mkdtempSync(join(tmpdir(), 'keel-bench-'))
const children: ChildProcess[] = []

async function startServer(
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ url: string; pid: number; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn('taskset', ['-c', '0', process.execPath, ...args], {
    cwd: root,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  await waitFor(async () => (await fetch(`${url}/health`).catch(() => undefined))?.ok, { what: `${name} to listen`, timeoutMs: 60_000 })
  return { url, pid: child.pid!, child }
}

/** SIGTERM, and its exit. */
function stop(child: ChildProcess): Promise<unknown> {
  child.kill('SIGTERM')
  return new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))
}

/** The process's CPU time so far (user + system), in µs: /proc/<pid>/stat fields 14 and 15, in clock ticks. */
function cpuUs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS
}
const CLOCK_TICKS = 100 // sysconf(_SC_CLK_TCK) on Linux

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

/** A load run against one server; with its pid, the CPU time the server spent per request. */
async function load(spec: Omit<LoadSpec, 'connections'> & { pid?: number }): Promise<LoadResult & { cpuUs?: number }> {
  const before = spec.pid ? cpuUs(spec.pid) : 0
  const result = await loadRun(spec)
  return spec.pid ? { ...result, cpuUs: (cpuUs(spec.pid) - before) / Math.max(1, result.total) } : result
}

function loadRun(spec: Omit<LoadSpec, 'connections'>): Promise<LoadResult> {
  const file = join(scratch, `load-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(file, JSON.stringify({ connections: CONNECTIONS, ...spec }))
  return new Promise((resolve, reject) => {
    const child = spawn('taskset', ['-c', '1', process.execPath, '--import', 'tsx', 'bench/load.ts', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited with ${code}`)),
    )
  })
}

try {
  // ---- data: one seller's catalog, the first HOT products with stock enough for every order
  console.log(`seeding ${PRODUCTS.toLocaleString('en')} products...`)
  const sellerId = crypto.randomUUID()
  await sql`
    insert into products (id, owner_id, name, description, price_cents, stock, status, created_at, updated_at)
    select gen_random_uuid(), ${sellerId}, 'Product ' || i, 'A product for the benchmark', 100 + i % 10000,
           case when i <= ${HOT} then 1000000000 else 10 end, 'active',
           now() - make_interval(secs => i::double precision), now() - make_interval(secs => i::double precision)
    from generate_series(1, ${PRODUCTS}) as i`
  await sql`analyze products`
  const all = await sql<{ id: string }[]>`select id from products order by random()`
  const hot = (await sql<{ id: string }[]>`select id from products where stock > 1000 order by id`).map((r) => r.id)
  // Keyset positions spread over the whole catalog: every 97th row's (createdAt, id), newest first.
  const positions = await sql<{ at: Date; id: string }[]>`
    select created_at as at, id from (select created_at, id, row_number() over (order by created_at desc, id) as n from products) p where n % 97 = 0`

  const common = { DATABASE_URL: database.url, REDIS_URL }
  // BENCH_CPU_PROF=<folder>: each server writes a V8 CPU profile of the whole run there when it exits
  // (CPU.<date>.<time>.<pid>...cpuprofile; the pids are printed).
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  const bare = await startServer('the bare server', [...profile, '--import', 'tsx', 'bench/bare-server.ts'], common)
  const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-bench'
  const stock = await startServer('the stock assembly', [...profile, '--import', 'tsx', 'bench/stock-server.ts'], { ...common, JWT_SECRET })
  const keelEnv = {
    ...common,
    NODE_ENV: 'production',
    ROLE: 'api',
    LOG_LEVEL: 'info',
    JWT_SECRET,
    JWT_ACCESS_TTL_SECONDS: '7200',
    REDIS_KEY_PREFIX: `keel-bench:${process.pid}:`,
    RATE_LIMIT_MAX: '1000000000',
    SEED_DEMO_DATA: 'false',
    DB_MIGRATE: 'false',
    // The bench's buyer signs up and makes a key without opening the verification email.
    REQUIRE_VERIFIED_EMAIL_FOR: 'none',
  }
  const keel = await startServer('Keel', [...profile, 'dist/src/app/server.js'], keelEnv)
  if (profile.length) console.log(`profiles: bare ${bare.pid}, stock ${stock.pid}, Keel ${keel.pid}`)

  // ---- a buyer (JWT) and an API key, through Keel's own API
  const json = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${keel.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { data: Record<string, unknown> }).data
  }
  const credentials = { email: 'buyer@bench.local', password: 'Bench-password-2026' }
  await json('/api/v1/auth/register', { ...credentials, name: 'Bench Buyer' })
  const login = await json('/api/v1/auth/login', credentials)
  const bearer = { authorization: `Bearer ${String(login.accessToken)}` }
  const buyerId = (login.user as { id: string }).id
  const apiKey = {
    'x-api-key': String(
      (await json('/api/v1/api-keys', { name: 'bench', scopes: ['read'], currentPassword: credentials.password }, bearer)).key,
    ),
  }

  // Warm both caches with the hot products.
  for (const id of hot)
    await Promise.all([
      fetch(`${keel.url}/api/v1/products/${id}`),
      fetch(`${bare.url}/cached/products/${id}`),
      fetch(`${stock.url}/products/${id}`),
    ])

  const offsets = Array.from({ length: 500 }, (_, i) => (i * 37) % 2000)
  type Request = Omit<LoadSpec, 'connections' | 'seconds' | 'url'>
  const get = (paths: string[], headers?: Record<string, string>): Request => ({ method: 'GET', paths, ...(headers ? { headers } : {}) })
  const orderBodies = hot.map((id) => JSON.stringify({ items: [{ productId: id, quantity: 1 }] }))
  const scenarios: { name: string; bare: Request; stock: Request; keel: Request }[] = [
    { name: '`GET /health`', bare: get(['/health']), stock: get(['/health']), keel: get(['/health']) },
    {
      name: `product by id, cache hit (${HOT} hot ids)`,
      bare: get(hot.map((id) => `/cached/products/${id}`)),
      stock: get(hot.map((id) => `/products/${id}`)),
      keel: get(hot.map((id) => `/api/v1/products/${id}`)),
    },
    {
      name: `product by id, cache hit, with a JWT (bare: anonymous)`,
      bare: get(hot.map((id) => `/cached/products/${id}`)),
      stock: get(
        hot.map((id) => `/me/products/${id}`),
        bearer,
      ),
      keel: get(
        hot.map((id) => `/api/v1/products/${id}`),
        bearer,
      ),
    },
    {
      name: `product by id, ${PRODUCTS.toLocaleString('en')} ids (cache-aside, mostly misses; bare uncached)`,
      bare: get(all.map((r) => `/products/${r.id}`)),
      stock: get(all.map((r) => `/products/${r.id}`)),
      keel: get(all.map((r) => `/api/v1/products/${r.id}`)),
    },
    {
      name: 'list page of 20 with total (bare without total)',
      bare: get(offsets.map((o) => `/products?limit=20&offset=${o}`)),
      stock: get(offsets.map((o) => `/products?limit=20&offset=${o}`)),
      keel: get(offsets.map((o) => `/api/v1/products?limit=20&offset=${o}`)),
    },
    {
      name: 'keyset page of 20, anywhere in the catalog',
      bare: get(positions.map((p) => `/products/keyset?limit=20&at=${p.at.toISOString()}&id=${p.id}`)),
      stock: get(positions.map((p) => `/products/keyset?limit=20&at=${p.at.toISOString()}&after=${p.id}`)),
      keel: get(positions.map((p) => `/api/v1/products?limit=20&cursor=${encodeCursor([p.at.toISOString(), p.id])}`)),
    },
    {
      name: 'create an order (JWT; one transaction: stock, order, item, outbox; bare anonymous)',
      bare: { method: 'POST', paths: ['/orders'], bodies: hot.map((id) => JSON.stringify({ userId: buyerId, productId: id })) },
      stock: { method: 'POST', paths: ['/orders'], headers: bearer, bodies: orderBodies },
      keel: { method: 'POST', paths: ['/api/v1/orders'], headers: bearer, bodies: orderBodies },
    },
  ]

  type Spec = Omit<LoadSpec, 'connections' | 'seconds'> & { pid: number }
  type Result = LoadResult & { cpuUs: number }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  /** Each spec warmed up (from halfway through its paths), then measured in alternating rounds: the medians. */
  async function measure(...specs: Spec[]): Promise<Result[]> {
    for (const spec of specs) await load({ ...spec, seconds: WARMUP, start: Math.floor(spec.paths.length / 2) })
    const runs: Result[][] = specs.map(() => [])
    for (let round = 0; round < ROUNDS; round++) {
      // Each round goes on through the paths where the last one stopped (a cold read stays cold).
      for (const [i, spec] of specs.entries()) {
        const r = await load({ ...spec, seconds: SECONDS, start: runs[i]!.reduce((n, r) => n + r.total, 0) })
        runs[i]!.push({ ...r, cpuUs: r.cpuUs ?? 0 })
      }
    }
    return runs.map((rs) => ({
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      cpuUs: median(rs.map((r) => r.cpuUs)),
      total: rs.reduce((n, r) => n + r.total, 0),
      non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      errors: rs.reduce((n, r) => n + r.errors, 0),
    }))
  }

  const rows: string[] = []
  const cpuRows: string[] = []
  const fmt = (n: number) => Math.round(n).toLocaleString('en')
  const failures = (...rs: LoadResult[]) => {
    const bad = rs.reduce((n, r) => n + r.non2xx + r.errors, 0)
    return bad ? ` ${bad} non-2xx/errors` : ''
  }
  // BENCH_SCENARIOS=<words>: only the scenarios whose name contains one of them (for profiling one path).
  const only = process.env.BENCH_SCENARIOS?.split(',')
  for (const s of scenarios.filter((s) => !only || only.some((w) => s.name.includes(w)))) {
    const [b, st, k] = await measure(
      { url: bare.url, pid: bare.pid, ...s.bare },
      { url: stock.url, pid: stock.pid, ...s.stock },
      { url: keel.url, pid: keel.pid, ...s.keel },
    )
    rows.push(
      `| ${s.name} | ${fmt(b!.rps)} | ${fmt(st!.rps)} | ${fmt(k!.rps)} | ${(k!.rps / b!.rps).toFixed(2)} | ${(k!.rps / st!.rps).toFixed(2)} | ${b!.p99} / ${st!.p99} / ${k!.p99} ms |${failures(b!, st!, k!)}`,
    )
    cpuRows.push(`| ${s.name} | ${fmt(b!.cpuUs)} | ${fmt(st!.cpuUs)} | ${fmt(k!.cpuUs)} | ${(k!.cpuUs / st!.cpuUs).toFixed(2)} |`)
    console.log(rows.at(-1))
    console.log(cpuRows.at(-1))
  }

  // An API key against the same read without credentials (Keel both times).
  const hotKeel = { url: keel.url, pid: keel.pid, ...get(hot.map((id) => `/api/v1/products/${id}`)) }
  const [anonymous, withKey] = await measure(hotKeel, { ...hotKeel, headers: apiKey })
  const keyRow = `| product by id, cache hit, with an API key | ${fmt(anonymous!.rps)} | ${fmt(withKey!.rps)} | ${(withKey!.rps / anonymous!.rps).toFixed(2)} | ${anonymous!.p99} / ${withKey!.p99} ms |${failures(anonymous!, withKey!)}`
  console.log(keyRow)
  const rss = { bare: rssMb(bare.pid), stock: rssMb(stock.pid), keel: rssMb(keel.pid) }

  // What the difference is made of: the same Keel with request logging off, rate limiting off, both;
  // and what tracing costs: started as `npm start` does (--import of the instrumentation) with no
  // OTLP endpoint (off: no SDK loaded), and with every request traced and exported to a local sink.
  const sink = createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end('{}')))
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve))
  sink.unref()
  const traced = ['--import', './dist/src/app/instrumentation.js', 'dist/src/app/server.js']
  const costRows: string[] = []
  const variants: [string, Record<string, string>, string[]?][] = [
    ['request logging off (LOG_LEVEL=warn)', { LOG_LEVEL: 'warn' }],
    ['rate limiting off (RATE_LIMIT_ENABLED=false)', { RATE_LIMIT_ENABLED: 'false' }],
    ['both off', { LOG_LEVEL: 'warn', RATE_LIMIT_ENABLED: 'false' }],
    ['tracing off, as `npm start` loads it (--import, no OTLP endpoint)', {}, traced],
    [
      'tracing on (every request sampled, OTLP to a local sink)',
      { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`, OTEL_SERVICE_NAME: 'keel-bench' },
      traced,
    ],
  ]
  for (const s of process.env.BENCH_VARIANTS === 'false' ? [] : [scenarios[0]!, scenarios[1]!]) {
    for (const [label, env, args = ['dist/src/app/server.js']] of variants) {
      // Keel as configured above and the variant, in the same alternating rounds.
      const variant = await startServer(`Keel (${label})`, args, { ...keelEnv, ...env })
      const [base, r] = await measure({ url: keel.url, pid: keel.pid, ...s.keel }, { url: variant.url, pid: variant.pid, ...s.keel })
      costRows.push(
        `| ${s.name}, ${label} | ${fmt(base!.rps)} | ${fmt(r!.rps)} | ${(r!.rps / base!.rps).toFixed(2)} | ${fmt(base!.cpuUs)} / ${fmt(r!.cpuUs)} µs |${failures(base!, r!)}`,
      )
      console.log(costRows.at(-1))
      await stop(variant.child)
    }
  }

  const table = [
    `Node.js ${process.version}; ${PRODUCTS.toLocaleString('en')} products, ${CONNECTIONS} connections; per scenario a ${WARMUP} s warm-up, then ${ROUNDS} rounds of ${SECONDS} s alternating bare, stock and Keel (medians shown); servers on CPU 0, load generator on CPU 1.`,
    '',
    '| scenario | bare req/s | stock req/s | Keel req/s | Keel / bare | Keel / stock | p99 bare / stock / Keel |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '| CPU time per request (server process, user + system) | bare µs | stock µs | Keel µs | Keel / stock |',
    '|---|---|---|---|---|',
    ...cpuRows,
    '',
    '| authenticated read (Keel) | anonymous req/s | with an API key req/s | ratio | p99 anonymous / API key |',
    '|---|---|---|---|---|',
    keyRow,
    '',
    `RSS after the run: bare ${rss.bare.toFixed(0)} MB, stock ${rss.stock.toFixed(0)} MB, Keel ${rss.keel.toFixed(0)} MB.`,
    ...(costRows.length
      ? [
          '',
          '| what the difference is made of: Keel as above vs Keel with one thing changed | Keel req/s | changed req/s | ratio | CPU per request Keel / changed |',
          '|---|---|---|---|---|',
          ...costRows,
        ]
      : []),
  ].join('\n')
  console.log(`\n${table}\n`)
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${table}\n`)
} finally {
  await Promise.all(children.map(stop))
  await sql.end({ timeout: 5 })
  await database.drop()
}
