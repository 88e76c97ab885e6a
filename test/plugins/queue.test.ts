import t from 'tap'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import { createTestDatabase, testConfig, buildChecked } from '../helpers/build.js'
import { waitFor } from '../helpers/wait.js'
import { PermanentJobError, type JobDefinition } from '../../plugins/queue/index.js'

type Test = { teardown: (fn: () => unknown) => void }

/** An app on `url` with extra queues declared before it starts its workers. */
async function appWith(t: Test, url: string, defs: JobDefinition[]): Promise<FastifyInstance> {
  const app = await buildChecked({ config: testConfig(url), logger: false })
  t.teardown(() => app.close())
  for (const def of defs) await app.jobs.define(def)
  await app.ready()
  return app
}

const jobState = async (app: FastifyInstance, id: string): Promise<string | null> => {
  const rows = await app.sql<{ state: string }[]>`select state::text as state from pgboss_v12.job where id = ${id}`
  return rows[0]?.state ?? null
}

const Payload = Type.Object({ n: Type.Integer() })

t.test('a job enqueued inside a rolled-back transaction never runs; the committed one does', async (t) => {
  const url = await createTestDatabase(t)
  const seen: number[] = []
  const app = await appWith(t, url, [{ name: 'test-echo', schema: Payload, handler: async ({ n }) => void seen.push(n) }])

  let rolledBackId: string | null = null
  await app.db
    .transaction(async (tx) => {
      rolledBackId = await app.jobs.send('test-echo', { n: 1 }, { tx })
      throw new Error('roll back')
    })
    .catch(() => {})
  const committedId = await app.db.transaction(async (tx) => app.jobs.send('test-echo', { n: 2 }, { tx }))
  // A postgres.js transaction works the same way.
  const rawId = await app.sql.begin(async (sql) => app.jobs.send('test-echo', { n: 3 }, { tx: sql }))

  t.ok(rolledBackId, 'the send inside the transaction returned an id')
  await waitFor(async () => (await jobState(app, committedId!)) === 'completed' && (await jobState(app, rawId!)) === 'completed', {
    what: 'committed jobs',
  })
  t.same(seen.sort(), [2, 3], 'only the committed jobs ran')
  t.equal(await jobState(app, rolledBackId!), null, 'the rolled-back job does not exist')
})

t.test('a payload that does not match the queue schema is refused on send', async (t) => {
  const url = await createTestDatabase(t)
  const app = await appWith(t, url, [{ name: 'test-typed', schema: Payload, handler: async () => {} }])
  await t.rejects(app.jobs.send('test-typed', { n: 'x' }), /invalid payload for test-typed/)
  await t.rejects(app.jobs.send('no-such-queue', {}), /unknown queue/)
})

t.test('a failing job is retried with its retry count, then succeeds; stats count it by state', async (t) => {
  const url = await createTestDatabase(t)
  const counts: number[] = []
  const app = await appWith(t, url, [
    {
      name: 'test-flaky',
      schema: Payload,
      queue: { retryLimit: 3, retryDelay: 1, retryBackoff: false },
      handler: async (_data, ctx) => {
        counts.push(ctx.retryCount)
        if (ctx.retryCount < 2) throw new Error('not yet')
      },
    },
  ])
  const id = await app.jobs.send('test-flaky', { n: 1 })
  await waitFor(async () => (await jobState(app, id!)) === 'completed', { what: 'flaky job to complete' })
  t.same(counts, [0, 1, 2])
  const stats = await app.jobs.stats()
  t.equal(stats['test-flaky']!.completed, 1)
  t.equal(stats['test-flaky']!.failed, 0)
})

t.test('a permanent failure is not retried and goes to the dead-letter queue', async (t) => {
  const url = await createTestDatabase(t)
  let attempts = 0
  const dead: number[] = []
  const app = await appWith(t, url, [
    { name: 'test-dead', schema: Payload, handler: async ({ n }) => void dead.push(n) },
    {
      name: 'test-permanent',
      schema: Payload,
      queue: { retryLimit: 5, deadLetter: 'test-dead' },
      handler: async () => {
        attempts++
        throw new PermanentJobError('nope')
      },
    },
  ])
  const id = await app.jobs.send('test-permanent', { n: 7 })
  await waitFor(() => dead.length === 1, { what: 'dead-letter job' })
  t.equal(attempts, 1, 'ran once')
  t.equal(await jobState(app, id!), 'failed')
  t.same(dead, [7], 'the dead-letter queue got the payload')
  const stats = await app.jobs.stats()
  t.equal(stats['test-permanent']!.failed, 1)
})

t.test('two workers on one database never process one job twice', async (t) => {
  const url = await createTestDatabase(t)
  const handled: { worker: string; n: number }[] = []
  const def = (worker: string): JobDefinition => ({
    name: 'test-shared',
    schema: Payload,
    batchSize: 10,
    handler: async ({ n }) => {
      handled.push({ worker, n })
      await new Promise((resolve) => setImmediate(resolve))
    },
  })
  const a = await appWith(t, url, [def('a')])
  const b = await appWith(t, url, [def('b')])
  const total = 200
  await a.jobs.insert(Array.from({ length: total }, (_, n) => ({ name: 'test-shared', data: { n } })))
  await waitFor(async () => (await a.jobs.stats())['test-shared']!.completed === total, { what: 'all jobs completed', timeoutMs: 30_000 })
  t.equal(handled.length, total, 'each job handled exactly once')
  t.equal(new Set(handled.map((h) => h.n)).size, total, 'no job handled twice')
  t.ok(b.jobs.definitions.has('test-shared'))
  t.comment(`worker a: ${handled.filter((h) => h.worker === 'a').length}, worker b: ${handled.filter((h) => h.worker === 'b').length}`)
})

t.test('ROLE=api enqueues only; a ROLE=worker process on the same database runs the jobs', async (t) => {
  const url = await createTestDatabase(t)
  const handledBy: string[] = []
  const api = await buildChecked({ config: testConfig(url, { ROLE: 'api' }), logger: false })
  t.teardown(() => api.close())
  await api.jobs.define({ name: 'test-split', schema: Payload, handler: async () => void handledBy.push('api') })
  await api.ready()
  const worker = await buildChecked({ config: testConfig(url, { ROLE: 'worker' }), logger: false })
  t.teardown(() => worker.close())
  await worker.jobs.define({ name: 'test-split', schema: Payload, handler: async () => void handledBy.push('worker') })
  await worker.ready()

  const ids = await Promise.all([1, 2, 3].map((n) => api.jobs.send('test-split', { n })))
  await waitFor(async () => (await Promise.all(ids.map((id) => jobState(api, id!)))).every((s) => s === 'completed'), {
    what: 'jobs done by the worker',
  })
  t.same(handledBy, ['worker', 'worker', 'worker'])
  t.equal((await worker.inject({ method: 'GET', url: '/api/v1/webhooks' })).statusCode, 404, 'a worker serves no module routes')
  t.equal((await worker.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'but answers health')
})

t.test('closing the app lets a running job finish first', async (t) => {
  const url = await createTestDatabase(t)
  let started!: () => void
  const running = new Promise<void>((resolve) => (started = resolve))
  let finished = false
  const app = await appWith(t, url, [
    {
      name: 'test-slow',
      schema: Payload,
      handler: async () => {
        started()
        await new Promise((resolve) => setTimeout(resolve, 500)) // the job's own work
        finished = true
      },
    },
  ])
  const id = await app.jobs.send('test-slow', { n: 1 })
  await running
  const probe = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => probe.end())
  await app.close()
  t.ok(finished, 'the job finished before close resolved')
  const [row] = await probe<{ state: string }[]>`select state::text from pgboss_v12.job where id = ${id!}`
  t.equal(row?.state, 'completed')
})

t.test('a cron schedule is registered once however many instances declare it', async (t) => {
  const url = await createTestDatabase(t)
  const def = (): JobDefinition => ({
    name: 'test-cron',
    schema: Type.Object({}),
    schedule: { cron: '0 3 * * *' },
    handler: async () => {},
  })
  const a = await appWith(t, url, [def()])
  await appWith(t, url, [def()])
  const rows = await a.sql<{ name: string; cron: string }[]>`select name, cron from pgboss_v12.schedule where name = 'test-cron'`
  t.same(
    rows.map((r) => ({ ...r })),
    [{ name: 'test-cron', cron: '0 3 * * *' }],
  )
})
