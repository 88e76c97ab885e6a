// What src/db/postgres-js.ts relies on in postgres.js's private behaviour, checked against the
// installed postgres.js: when an upgrade changes any of it, a test here fails and names what to revisit.
import { spawnSync } from 'node:child_process'
import t from 'tap'
import postgres from 'postgres'
import { createTestDatabase } from '../helpers/build.js'
import { waitFor } from '../helpers/wait.js'
import { createGuard } from '../../src/db/guard.js'
import { createTransactionWatch, deferQuery, isPendingQuery, isTransactionBegin, type PoolOptions } from '../../src/db/postgres-js.js'
import { projectRoot } from '../../src/lib/paths.js'

type Test = { teardown: (fn: () => unknown) => void }

const pool = (t: Test, url: string, options: PoolOptions = {}) => {
  const sql = postgres(url, { max: 2, onnotice: () => {}, ...options })
  t.teardown(() => sql.end({ timeout: 0 }))
  return sql
}

/** Terminate the backend of `pid` from a connection of its own. */
async function terminate(url: string, pid: number) {
  const killer = postgres(url, { max: 1, onnotice: () => {} })
  await killer`select pg_terminate_backend(${pid})`
  await killer.end({ timeout: 0 })
}

t.test('a lazy query runs through its handler when awaited: deferred, it waits for its turn; refused, it is never sent', async (t) => {
  const url = await createTestDatabase(t, { empty: true })
  const sql = pool(t, url)
  await sql`create table seen (n int)`

  const query = sql`insert into seen values (1) returning n`
  t.ok(isPendingQuery(query), 'a tagged template is a pending query with a handler')
  t.notOk(isPendingQuery(sql('seen')), 'an identifier helper is not')
  let open!: () => void
  const turn = new Promise<void>((resolve) => (open = resolve))
  const settled: unknown[] = []
  let asked = false
  deferQuery(query, async () => {
    asked = true
    await turn
    return (err) => void settled.push(err ?? 'ok')
  })
  t.notOk(asked, 'nothing runs before the query is awaited')
  const result = query.then((rows) => rows.map((r) => r.n))
  await waitFor(() => asked, { what: 'the handler to be called' })
  t.same(await sql`select n from seen`, [], 'not sent while it waits')
  open()
  t.same(await result, [1])
  await waitFor(() => settled.length === 1, { what: 'the after-callback' })
  t.same(settled, ['ok'], 'told when it settled')

  const refused = deferQuery(sql`insert into seen values (2)`, async () => {
    throw new Error('no slot')
  })
  await t.rejects(refused, /no slot/, 'a refusal rejects the query')
  t.same(
    (await sql<{ n: number }[]>`select n from seen order by n`).map((r) => r.n),
    [1],
    'and it was never sent',
  )
})

t.test("begin() sends its BEGIN through the pool's unsafe with onexecute; onclose names that connection when it closes", async (t) => {
  const url = await createTestDatabase(t, { empty: true })
  const closed: number[] = []
  const sql = pool(t, url, { onclose: (id) => void closed.push(id), backoff: () => 0.01 })
  const unsafe = sql.unsafe
  const begins: { text: string; connection?: number }[] = []
  sql.unsafe = ((text: string, params?: unknown[], options?: unknown) => {
    if (isTransactionBegin(options)) {
      const seen: { text: string; connection?: number } = { text }
      begins.push(seen)
      const onexecute = (options as { onexecute: (c: { id: number }) => unknown }).onexecute
      options = { ...(options as object), onexecute: (c: { id: number }) => ((seen.connection = c.id), onexecute(c)) }
    }
    return unsafe(text, params as never, options as never)
  }) as typeof sql.unsafe

  const pid = await sql.begin(async (tx) => (await tx<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid)
  t.equal(begins.length, 1, 'one BEGIN through unsafe, told apart by its onexecute option')
  t.match(begins[0]!.text, /^begin/i)
  t.type(begins[0]!.connection, 'number', 'onexecute received the connection, with its id')
  await terminate(url, pid)
  await waitFor(() => closed.includes(begins[0]!.connection!), { what: 'onclose with that connection id' })
  t.pass('onclose was called with the id onexecute saw')
})

t.test('the upstream bug is still there: a transaction whose connection dies makes postgres.js write on a closed socket', async (t) => {
  const url = await createTestDatabase(t, { empty: true })
  // In a process of its own: the bug is an uncaught exception.
  const script = `
    import postgres from 'postgres'
    const url = process.argv[1]
    let uncaught = null
    process.on('uncaughtException', (e) => { uncaught = String(e) })
    const sql = postgres(url, { max: 2, onnotice: () => {} })
    const killer = postgres(url, { max: 1, onnotice: () => {} })
    let pid = null
    const tx = sql.begin(async (t) => {
      pid = (await t\`select pg_backend_pid() as pid\`)[0].pid
      await t\`select pg_sleep(5)\`
    })
    while (pid === null) await new Promise((r) => setTimeout(r, 10))
    await killer\`select pg_terminate_backend(\${pid})\`
    const err = await tx.catch((e) => e)
    for (let i = 0; i < 100 && !uncaught; i++) await new Promise((r) => setTimeout(r, 20))
    console.log(JSON.stringify({ rejected: err && err.code, uncaught }))
    await sql.end({ timeout: 0 })
    await killer.end({ timeout: 0 })`
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script, url], {
    cwd: projectRoot,
    encoding: 'utf8',
    timeout: 30_000,
  })
  const result = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as { rejected?: string; uncaught?: string | null }
  t.equal(result.rejected, 'CONNECTION_CLOSED', 'begin() rejects')
  t.match(
    result.uncaught ?? '',
    /TypeError/,
    'postgres.js still writes the ROLLBACK on the closed connection (porsager/postgres#1133). ' +
      'When this fails, the installed postgres.js is fixed: remove createTransactionWatch from src/db/postgres-js.ts',
  )
})

t.test('with the watch, the same transaction only rejects: nothing is written on the closed connection', async (t) => {
  const url = await createTestDatabase(t, { empty: true })
  const watch = createTransactionWatch()
  const sql = pool(t, url, { onclose: watch.onclose })
  const unsafe = sql.unsafe
  sql.unsafe = ((text: string, params?: unknown[], options?: unknown) =>
    unsafe(text, params as never, (isTransactionBegin(options) ? watch.noteBegin(options) : options) as never)) as typeof sql.unsafe
  const uncaught: unknown[] = []
  const record = (err: unknown) => void uncaught.push(err)
  process.on('uncaughtException', record)
  t.teardown(() => void process.off('uncaughtException', record))

  let pid: number | undefined
  const tx = watch.begin(sql.begin as (...args: unknown[]) => Promise<unknown>, [
    async (scope: postgres.TransactionSql) => {
      pid = (await scope<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid
      await scope`select pg_sleep(5)`
    },
  ])
  await waitFor(() => pid, { what: 'the transaction to start' })
  await terminate(url, pid!)
  await t.rejects(tx, { code: 'CONNECTION_CLOSED' }, 'begin() rejects')
  // Give a stray write the time it took above to surface (a bounded poll, nothing expected).
  await t.rejects(
    waitFor(() => uncaught.length > 0, { timeoutMs: 500 }),
    /timed out/,
    'no uncaught exception',
  )
  t.same(await sql`select 1 as ok`, [{ ok: 1 }], 'the pool serves the next query')
})

t.test('the guard holds queries to DB_POOL_MAX at once and refuses one that waited too long, unsent', async (t) => {
  const url = await createTestDatabase(t, { empty: true })
  const guard = createGuard({
    url,
    max: 1,
    stallMs: 10_000,
    acquireTimeoutMs: 300,
    probeTimeoutMs: 1000,
    probeIntervalMs: 500,
    reconnectMaxMs: 500,
  })
  const raw = postgres(url, { max: 2, onnotice: () => {}, ...(guard.poolOptions as PoolOptions) })
  const sql = guard.wrap(raw)
  t.teardown(async () => {
    await guard.stop()
    await raw.end({ timeout: 0 })
  })
  await sql`create table seen (n int)`
  const slow = sql`select pg_sleep(1)`.then(() => 'slow done')
  const refused = sql`insert into seen values (1)`
  await t.rejects(
    refused,
    { statusCode: 503, message: 'The database is busy; try again shortly' },
    'the second query waited past the bound: 503',
  )
  t.equal(await slow, 'slow done')
  t.same(await sql`select n from seen`, [], 'the refused insert was never sent')
})
