// The settings for a pooler in transaction mode (PgBouncer < 1.21): DB_PREPARE=false leaves no
// prepared statement on a server connection (a pooler hands the next query to another one), and
// DATABASE_DIRECT_URL carries what needs a session (migrations under their advisory lock, pg-boss)
// while DATABASE_URL serves requests.
import t from 'tap'
import postgres from 'postgres'
import { products } from '../../modules/products/tables.js'
import { buildApp } from '../../src/app/app.js'
import { connectionBudget } from '../../src/db/budget.js'
import { build, createTestDatabase, testConfig } from '../helpers/build.js'

const preparedOnTheConnection = async (app: Awaited<ReturnType<typeof build>>) => {
  // DB_POOL_MAX=1: the Drizzle query and this look-up share the one connection of the pool.
  await app.db.select({ id: products.id }).from(products).limit(1)
  const rows = await app.sql<{ statement: string }[]>`select statement from pg_prepared_statements`
  return rows.map((r) => r.statement)
}

t.test("DB_PREPARE=true (default): Drizzle's queries are prepared on the server connection", async (t) => {
  const app = await build(t, { DB_POOL_MAX: 1 })
  const statements = await preparedOnTheConnection(app)
  t.ok(
    statements.some((s) => s.includes('from "products"')),
    'the select is a named prepared statement',
  )
})

t.test("DB_PREPARE=false: no statement is prepared, neither Drizzle's nor postgres.js's own", async (t) => {
  const app = await build(t, { DB_POOL_MAX: 1, DB_PREPARE: false })
  t.same(await preparedOnTheConnection(app), [], 'nothing prepared on the connection')
  const res = await app.inject({ method: 'GET', url: '/api/v1/products' })
  t.equal(res.statusCode, 200, 'requests are served')
})

t.test('DATABASE_DIRECT_URL: migrations and the queue use it; DATABASE_URL serves requests', async (t) => {
  // An empty database, and a DATABASE_URL that cannot take a session's work: every transaction on
  // it is read-only. Starting migrates and creates the queues, so both must go over the direct URL.
  const direct = await createTestDatabase(t, { empty: true })
  const pooled = `${direct}?default_transaction_read_only=on`
  const app = await buildApp({
    config: testConfig(pooled, { DATABASE_DIRECT_URL: direct, REDIS_URL: undefined, ROLE: 'api' }),
    logger: false,
  })
  t.teardown(() => app.close())
  await app.ready()

  const [readOnly] = await app.sql<{ transaction_read_only: string }[]>`show transaction_read_only`
  t.equal(readOnly?.transaction_read_only, 'on', "the app's pool is the read-only URL")
  const check = postgres(direct, { max: 1, onnotice: () => {} })
  t.teardown(() => check.end())
  const [migrated] = await check<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`
  t.ok(migrated!.n > 0, `${migrated!.n} migrations applied over the direct URL`)
  const id = await app.jobs.send('send-email', { emailId: '00000000-0000-7000-8000-000000000000' })
  t.ok(id, 'pg-boss writes its jobs over the direct URL')
  const list = await app.inject({ method: 'GET', url: '/api/v1/products' })
  t.equal(list.statusCode, 200, 'reads are served by the pooled URL')
})

t.test('the connection budget: a process under load opens no more connections than connectionBudget says', async (t) => {
  const app = await build(t, { DB_POOL_MAX: 3 })
  const budget = connectionBudget(app.config)
  t.same(budget, { pooled: 4, read: 0, direct: 3, total: 7 })
  const database = new URL(app.config.DATABASE_URL!).pathname.slice(1)
  const watcher = postgres(app.config.DATABASE_URL!, { max: 1, onnotice: () => {} })
  t.teardown(() => watcher.end())
  // Saturate the request pool and pg-boss's at once, counting the server's backends meanwhile.
  let peak = 0
  const load = Promise.all([
    ...Array.from({ length: 12 }, () => app.sql`select pg_sleep(0.3)`),
    ...Array.from({ length: 6 }, () => app.jobs.stats()),
  ])
  const deadline = Date.now() + 1500
  while (Date.now() < deadline) {
    const [row] = await watcher<
      { n: number }[]
    >`select count(*)::int as n from pg_stat_activity where datname = ${database} and pid <> pg_backend_pid()`
    peak = Math.max(peak, row!.n)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await load
  t.ok(peak >= 3, `the pools were in use (${peak} connections at the peak)`)
  t.ok(peak <= budget.total, `${peak} connections at the peak, within the budget of ${budget.total}`)
})
