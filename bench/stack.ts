// Keel side by side with the bare stack it is built on, in one run. Both servers run as processes of
// their own on the same data (a scratch database seeded with BENCH_PRODUCTS products), pinned to CPU 0;
// the load generator (autocannon, 50 connections) runs pinned to CPU 1; PostgreSQL and Redis float.
// Keel runs its production build with production defaults (NODE_ENV=production, info logging to
// /dev/null, rate limiting on with Redis — with a limit no client reaches — ROLE=api, as an API
// instance behind which workers scale apart; the jobs bench measures those). Each scenario is warmed
// up on both, then measured in BENCH_ROUNDS rounds alternating bare and Keel (a shared machine's
// noise lands on both): the median of each figure — req/s, p50, p99 — their ratio, and each server's
// RSS at the end. Then what the difference is made of: Keel again with request logging off
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

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

function load(spec: Omit<LoadSpec, 'connections'>): Promise<LoadResult> {
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
  const bare = await startServer('the bare server', ['--import', 'tsx', 'bench/bare-server.ts'], common)
  const keelEnv = {
    ...common,
    NODE_ENV: 'production',
    ROLE: 'api',
    LOG_LEVEL: 'info',
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret-bench',
    JWT_ACCESS_TTL_SECONDS: '7200',
    REDIS_KEY_PREFIX: `keel-bench:${process.pid}:`,
    RATE_LIMIT_MAX: '1000000000',
    SEED_DEMO_DATA: 'false',
    DB_MIGRATE: 'false',
    // The bench's buyer signs up and makes a key without opening the verification email.
    REQUIRE_VERIFIED_EMAIL_FOR: 'none',
  }
  const keel = await startServer('Keel', ['dist/src/app/server.js'], keelEnv)

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
  for (const id of hot) await Promise.all([fetch(`${keel.url}/api/v1/products/${id}`), fetch(`${bare.url}/cached/products/${id}`)])

  const offsets = Array.from({ length: 500 }, (_, i) => (i * 37) % 2000)
  const scenarios: {
    name: string
    bare: Omit<LoadSpec, 'connections' | 'seconds' | 'url'>
    keel: Omit<LoadSpec, 'connections' | 'seconds' | 'url'>
  }[] = [
    { name: '`GET /health` vs a bare route', bare: { method: 'GET', paths: ['/health'] }, keel: { method: 'GET', paths: ['/health'] } },
    {
      name: `product by id, cache hit (${HOT} hot ids) vs bare cache-aside`,
      bare: { method: 'GET', paths: hot.map((id) => `/cached/products/${id}`) },
      keel: { method: 'GET', paths: hot.map((id) => `/api/v1/products/${id}`) },
    },
    {
      name: `product by id, ${PRODUCTS.toLocaleString('en')} ids (Keel cache-aside, mostly misses) vs bare uncached select`,
      bare: { method: 'GET', paths: all.map((r) => `/products/${r.id}`) },
      keel: { method: 'GET', paths: all.map((r) => `/api/v1/products/${r.id}`) },
    },
    {
      name: 'list page of 20 with total vs bare page without total',
      bare: { method: 'GET', paths: offsets.map((o) => `/products?limit=20&offset=${o}`) },
      keel: { method: 'GET', paths: offsets.map((o) => `/api/v1/products?limit=20&offset=${o}`) },
    },
    {
      name: 'keyset page of 20 (anywhere in the catalog) vs bare keyset select',
      bare: { method: 'GET', paths: positions.map((p) => `/products/keyset?limit=20&at=${p.at.toISOString()}&id=${p.id}`) },
      keel: { method: 'GET', paths: positions.map((p) => `/api/v1/products?limit=20&cursor=${encodeCursor([p.at.toISOString(), p.id])}`) },
    },
    {
      name: 'create an order (JWT; one transaction: stock, order, item, outbox) vs the same statements',
      bare: { method: 'POST', paths: ['/orders'], bodies: hot.map((id) => JSON.stringify({ userId: buyerId, productId: id })) },
      keel: {
        method: 'POST',
        paths: ['/api/v1/orders'],
        headers: bearer,
        bodies: hot.map((id) => JSON.stringify({ items: [{ productId: id, quantity: 1 }] })),
      },
    },
  ]

  type Spec = Omit<LoadSpec, 'connections' | 'seconds'>
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  /** Each spec warmed up (from halfway through its paths), then measured in alternating rounds: the medians. */
  async function measure(...specs: Spec[]): Promise<LoadResult[]> {
    for (const spec of specs) await load({ ...spec, seconds: WARMUP, start: Math.floor(spec.paths.length / 2) })
    const runs: LoadResult[][] = specs.map(() => [])
    for (let round = 0; round < ROUNDS; round++) {
      // Each round goes on through the paths where the last one stopped (a cold read stays cold).
      for (const [i, spec] of specs.entries())
        runs[i]!.push(await load({ ...spec, seconds: SECONDS, start: runs[i]!.reduce((n, r) => n + r.total, 0) }))
    }
    return runs.map((rs) => ({
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      total: rs.reduce((n, r) => n + r.total, 0),
      non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
      errors: rs.reduce((n, r) => n + r.errors, 0),
    }))
  }

  const rows: string[] = []
  const results: Record<string, LoadResult> = {}
  const fmt = (n: number) => Math.round(n).toLocaleString('en')
  const failures = (...rs: LoadResult[]) => {
    const bad = rs.reduce((n, r) => n + r.non2xx + r.errors, 0)
    return bad ? ` ${bad} non-2xx/errors` : ''
  }
  for (const s of scenarios) {
    const [bareResult, keelResult] = await measure({ url: bare.url, ...s.bare }, { url: keel.url, ...s.keel })
    results[s.name] = keelResult!
    rows.push(
      `| ${s.name} | ${fmt(bareResult!.rps)} | ${fmt(keelResult!.rps)} | ${(keelResult!.rps / bareResult!.rps).toFixed(2)} | ${bareResult!.p50} / ${keelResult!.p50} ms | ${bareResult!.p99} / ${keelResult!.p99} ms |${failures(bareResult!, keelResult!)}`,
    )
    console.log(rows.at(-1))
  }

  // Authenticated reads against the same read without credentials (Keel both times).
  const authRows: string[] = []
  const hotKeel = { url: keel.url, method: 'GET' as const, paths: hot.map((id) => `/api/v1/products/${id}`) }
  const anonymous = results[scenarios[1]!.name]!
  for (const [name, headers] of [
    ['product by id, cache hit, with a JWT (bearer)', bearer],
    ['product by id, cache hit, with an API key', apiKey],
  ] as const) {
    const [r] = await measure({ ...hotKeel, headers })
    authRows.push(
      `| ${name} | ${fmt(anonymous.rps)} | ${fmt(r!.rps)} | ${(r!.rps / anonymous.rps).toFixed(2)} | ${anonymous.p50} / ${r!.p50} ms | ${anonymous.p99} / ${r!.p99} ms |${failures(r!)}`,
    )
    console.log(authRows.at(-1))
  }
  const keelRss = rssMb(keel.pid)

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
  for (const s of [scenarios[0]!, scenarios[1]!]) {
    for (const [label, env, args = ['dist/src/app/server.js']] of variants) {
      // Keel as configured above and the variant, in the same alternating rounds.
      const variant = await startServer(`Keel (${label})`, args, { ...keelEnv, ...env })
      const [base, r] = await measure({ url: keel.url, ...s.keel }, { url: variant.url, ...s.keel })
      costRows.push(
        `| ${s.name.split(' vs ')[0]}, ${label} | ${fmt(base!.rps)} | ${fmt(r!.rps)} | ${(r!.rps / base!.rps).toFixed(2)} | ${base!.p99} / ${r!.p99} ms |${failures(base!, r!)}`,
      )
      console.log(costRows.at(-1))
      await stop(variant.child)
    }
  }

  const table = [
    `${PRODUCTS.toLocaleString('en')} products, ${CONNECTIONS} connections; per scenario a ${WARMUP} s warm-up, then ${ROUNDS} rounds of ${SECONDS} s alternating bare and Keel (medians shown); servers on CPU 0, load generator on CPU 1.`,
    '',
    '| scenario | bare req/s | Keel req/s | ratio | p50 bare / Keel | p99 bare / Keel |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    '| authenticated read (Keel) | anonymous req/s | authenticated req/s | ratio | p50 anonymous / authenticated | p99 anonymous / authenticated |',
    '|---|---|---|---|---|---|',
    ...authRows,
    '',
    `RSS after the run: bare ${rssMb(bare.pid).toFixed(0)} MB, Keel ${keelRss.toFixed(0)} MB.`,
    '',
    '| what the difference is made of: Keel as above vs Keel with one thing changed | Keel req/s | changed req/s | ratio | p99 Keel / changed |',
    '|---|---|---|---|---|',
    ...costRows,
  ].join('\n')
  console.log(`\n${table}\n`)
  if (process.env.BENCH_OUT) writeFileSync(process.env.BENCH_OUT, `${table}\n`)
} finally {
  await Promise.all(children.map(stop))
  await sql.end({ timeout: 5 })
  await database.drop()
}
