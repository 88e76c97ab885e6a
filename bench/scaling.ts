// Cost grows as it should: read by id costs the same at 10,000 and at 1,000,000 products; a keyset
// page deep in the catalog costs what the first one does; the `q` name search uses its trigram index;
// a list total is recounted once per write, not once per request. Measured in process (app.inject,
// so only Keel's own work is timed), on a scratch database.
import { performance } from 'node:perf_hooks'
import postgres from 'postgres'
import { buildApp } from '../src/app/app.js'
import { loadConfig } from '../src/lib/config.js'
import { encodeCursor } from '../src/lib/pagination.js'
import { createUser } from '../test/helpers/auth.js'
import { benchDatabase } from './_database.js'

const LARGE = Number(process.env.BENCH_LARGE_PRODUCTS ?? 1_000_000)
const SMALL = 10_000
const database = await benchDatabase()
const sql = postgres(database.url, { max: 2, onnotice: () => {} })
const app = await buildApp({
  config: loadConfig({
    DATABASE_URL: database.url,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_KEY_PREFIX: `keel-scaling:${process.pid}:`,
    LOG_LEVEL: 'silent',
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret-bench',
    RATE_LIMIT_ENABLED: 'false',
    ROLE: 'api',
  }),
  logger: false,
})
await app.ready()

const seller = crypto.randomUUID()
const seed = (from: number, to: number) => sql`
  insert into products (id, owner_id, name, price_cents, stock, created_at, updated_at)
  select gen_random_uuid(), ${seller}, 'Product ' || i, 100 + i % 10000, 10, now() - make_interval(secs => i::double precision), now() - make_interval(secs => i::double precision)
  from generate_series(${from}::int, ${to}::int) as i`

/** Mean milliseconds of `run(i)` over `n` sequential calls (each must answer 200). */
async function mean(n: number, run: (i: number) => Promise<{ statusCode: number }>): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < n; i++) {
    const res = await run(i)
    if (res.statusCode !== 200) throw new Error(`unexpected ${res.statusCode}`)
  }
  return (performance.now() - started) / n
}
const get = (url: string) => app.inject({ method: 'GET', url })
const randomIds = async (n: number) => (await sql<{ id: string }[]>`select id from products order by random() limit ${n}`).map((r) => r.id)
const ms = (n: number) => `${n.toFixed(2)} ms`
const lines: string[] = []
const report = (line: string) => {
  lines.push(line)
  console.log(line)
}

try {
  await seed(1, SMALL)
  await sql`analyze products`
  await mean(300, () => get('/health')) // warm up the process before timing anything
  // Distinct ids: every read misses the cache and reads the database.
  const smallIds = await randomIds(2000)
  const small = await mean(smallIds.length, (i) => get(`/api/v1/products/${smallIds[i]}`))

  console.log(`seeding up to ${LARGE.toLocaleString('en')} products...`)
  await seed(SMALL + 1, LARGE)
  await sql`analyze products`
  const largeIds = await randomIds(2000)
  const large = await mean(largeIds.length, (i) => get(`/api/v1/products/${largeIds[i]}`))
  report(
    `read by id (cache miss): ${ms(small)} at ${SMALL.toLocaleString('en')} products, ${ms(large)} at ${LARGE.toLocaleString('en')} (×${(large / small).toFixed(2)})`,
  )

  const [deep] = await sql<{ at: Date; id: string }[]>`
    select created_at as at, id from products order by created_at desc, id offset ${Math.floor(LARGE * 0.9)} limit 1`
  const first = await mean(300, () => get('/api/v1/products?limit=20&cursor='))
  const deepPage = await mean(300, () => get(`/api/v1/products?limit=20&cursor=${encodeCursor([deep!.at.toISOString(), deep!.id])}`))
  report(
    `keyset page of 20: ${ms(first)} for the first, ${ms(deepPage)} at row ${Math.floor(LARGE * 0.9).toLocaleString('en')} (×${(deepPage / first).toFixed(2)})`,
  )

  const [plan] = await sql<
    { 'QUERY PLAN': unknown }[]
  >`explain (format json) select id from products where status <> 'removed' and name ilike ${'%4242%'} order by created_at desc, id limit 21`
  const planText = JSON.stringify(plan!['QUERY PLAN'])
  const index = /"Index Name":"(products_name_trgm_idx)"/.exec(planText)?.[1]
  const search = await mean(50, (i) => get(`/api/v1/products?limit=20&cursor=&q=${4242 + i}`))
  report(
    `q search at ${LARGE.toLocaleString('en')} products: ${ms(search)} a page, ${index ? `using the trigram index ${index}` : 'WITHOUT an index (sequential scan)'}`,
  )

  // After each write, 50 concurrent offset pages with the same filters: how many recounts?
  const owner = await createUser(app)
  let recounts = 0
  const count = app.cache.count.bind(app.cache)
  app.cache.count = (namespace, filters, loader) => count(namespace, filters, () => (recounts++, loader()))
  const product = (
    await app.inject({ method: 'POST', url: '/api/v1/products', headers: owner.headers, payload: { name: 'Counted', priceCents: 100 } })
  ).json().data
  const rounds = 10
  for (let round = 0; round < rounds; round++) {
    await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${product.id}`,
      headers: owner.headers,
      payload: { priceCents: 100 + round },
    })
    await Promise.all(Array.from({ length: 50 }, () => get('/api/v1/products?limit=20&offset=40')))
  }
  report(
    `list totals: ${recounts} recounts for ${rounds} writes each followed by 50 concurrent pages (${(recounts / rounds).toFixed(1)} per write)`,
  )
} finally {
  await app.close()
  await sql.end({ timeout: 5 })
  await database.drop()
}
