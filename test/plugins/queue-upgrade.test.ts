// Upgrading in place from Keel 1.x (pg-boss 10, schema "pgboss") to this release (pg-boss 12, schema
// pgboss_v12). The databases are made by 1.x's queue (test/helpers/keel-1-queue.ts: pg-boss 10.4.2 set
// up call for call as 1.x did) with Keel's own queue definitions; the business events in them are the
// ones the app's API really published. Every job and event 1.x left must run exactly once after the
// upgrade, with its retry count, start time and dead letter; the schedules must fire; and 1.x workers
// may keep running beside this release's while the deployment is upgraded one process at a time.
import { Writable } from 'node:stream'
import t from 'tap'
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import postgres from 'postgres'
import { loggerOptions } from '../../plugins/request-context.js'
import { buildChecked, createTestDatabase, testConfig } from '../helpers/build.js'
import { createUser } from '../helpers/auth.js'
import { product } from '../helpers/marketplace.js'
import { startKeel1Queue } from '../helpers/keel-1-queue.js'
import { waitFor } from '../helpers/wait.js'
import { receiver } from '../modules/webhooks/receiver.js'
import type { JobContext, JobDefinition } from '../../plugins/queue/index.js'

type Test = { teardown: (fn: () => unknown) => void }
const Payload = Type.Object({ n: Type.Integer() })

interface Run {
  n: number
  retryCount: number
  at: number
}

/** The test's own queues: two with a dead-letter queue (one never retried), and a cron that fires every minute. */
function testQueues(runs: Map<string, Run[]>): JobDefinition[] {
  const record = (queue: string) => async (data: { n: number }, ctx: JobContext) => {
    runs.set(queue, [...(runs.get(queue) ?? []), { n: data.n, retryCount: ctx.retryCount, at: Date.now() }])
  }
  return [
    { name: 'upgrade.dead', schema: Payload, handler: record('upgrade.dead') },
    {
      name: 'upgrade.work',
      schema: Payload,
      queue: { retryLimit: 2, retryDelay: 1, deadLetter: 'upgrade.dead' },
      handler: record('upgrade.work'),
    },
    { name: 'upgrade.once', schema: Payload, queue: { retryLimit: 0, deadLetter: 'upgrade.dead' }, handler: record('upgrade.once') },
    {
      name: 'upgrade.cron',
      schema: Type.Object({}),
      schedule: { cron: '* * * * *' },
      handler: async (_d, ctx) => record('upgrade.cron')({ n: 0 }, ctx),
    },
  ]
}

/** This release's app on `url`, with the test's queues declared before it starts. */
async function release(t: Test, url: string, defs: JobDefinition[], role: 'all' | 'api' = 'all'): Promise<FastifyInstance> {
  const app = await buildChecked({ config: testConfig(url, { ROLE: role }), logger: false })
  t.teardown(() => app.close())
  for (const def of defs) await app.jobs.define(def)
  await app.ready()
  return app
}

t.test(
  'a database Keel 1.x left: every queued, retrying, deferred, expired and dead-lettered job and every undelivered event runs once; schedules fire',
  async (t) => {
    const url = await createTestDatabase(t, { empty: true })
    const db = postgres(url, { max: 2, onnotice: () => {} })
    t.teardown(() => db.end({ timeout: 1 }))
    const hooks = await receiver(t)

    // The app's tables and data, and the events its API publishes: an admin subscribed to webhooks, a
    // user who registers, an order. Made by ROLE=api (no worker runs): 1.x's API wrote the same events.
    const api = await release(t, url, [], 'api')
    const admin = await createUser(api, { role: 'admin' })
    const seller = await createUser(api)
    const listing = await product(api, seller, { name: 'Lamp', priceCents: 1500, stock: 5 })
    const subscribed = await api.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      headers: admin.headers,
      payload: { url: hooks.url, events: ['user.registered', 'order.created'], currentPassword: admin.password },
    })
    t.equal(subscribed.statusCode, 201)
    // What a worker would have delivered so far is not part of the picture: clear it before the events.
    await db`delete from pgboss_v12.job`
    const registered = await api.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email: 'ada@example.test', password: 'correct horse battery 9', name: 'Ada' },
    })
    t.equal(registered.statusCode, 201)
    const buyer = await createUser(api, { email: 'buyer@example.test' })
    const ordered = await api.inject({
      method: 'POST',
      url: '/api/v1/orders',
      headers: buyer.headers,
      payload: { items: [{ productId: listing.id, quantity: 1 }] },
    })
    t.equal(ordered.statusCode, 201)
    const events = await db<{ name: string; data: { id: string; type: string } }[]>`
    select name, data from pgboss_v12.job where name not like '\_\_pgboss\_\_%' order by created_on`
    t.ok(
      events.some((e) => e.data.type === 'user.registered') && events.some((e) => e.data.type === 'order.created'),
      'the API published both events',
    )
    const definitions = [...api.jobs.definitions.values()]
    await api.close()
    // Before this release there was no pg-boss 12 schema.
    await db`drop schema pgboss_v12 cascade`

    // Keel 1.x's queue: its queues and schedules, the events as its jobs.insert wrote them, and jobs in
    // every state a 1.x deployment leaves behind. Then every 1.x process is stopped.
    const runs = new Map<string, Run[]>()
    const ours = testQueues(runs)
    const v1 = await startKeel1Queue(url, [...definitions, ...ours], { worker: false, retryDelaySeconds: 1 })
    await v1.insert(events.map(({ name, data }) => ({ name, data })))
    for (const n of [1, 2, 3]) await v1.send('upgrade.work', { n }) // queued
    const deferredUntil = Date.now() + 4000
    await v1.send('upgrade.work', { n: 4 }, { startAfter: new Date(deferredUntil) }) // deferred
    await v1.send('upgrade.work', { n: 5 })
    const [failing] = await v1.boss.fetch<{ n: number }>('upgrade.work')
    t.equal(failing?.data.n, 1, 'the oldest job first')
    await v1.boss.fail('upgrade.work', failing!.id, { message: 'SMTP said 451' }) // retrying: failed once, backing off
    const [dying] = await v1.boss.fetch<{ n: number }>('upgrade.work')
    // Active on a 1.x worker that died an hour ago: past its expiry, nobody will settle it.
    await db`update pgboss.job set started_on = now() - interval '1 hour' where id = ${dying!.id}`
    await v1.send('upgrade.once', { n: 6 })
    const [doomed] = await v1.boss.fetch<{ n: number }>('upgrade.once')
    await v1.boss.fail('upgrade.once', doomed!.id, { message: 'gave up' }) // out of retries: its copy waits in upgrade.dead
    await v1.stop()
    const waiting = await db<{ id: string; name: string; state: string }[]>`
    select id, name, state::text from pgboss.job where state < 'completed' and name not like '\_\_pgboss\_\_%'`
    t.same(
      waiting
        .filter((j) => j.name.startsWith('upgrade.'))
        .map((j) => j.state)
        .sort(),
      ['active', 'created', 'created', 'created', 'created', 'retry'],
      'the test queues hold queued, deferred, retrying, expired-active and dead-lettered jobs',
    )
    t.ok((await db`select 1 from pgboss.schedule where name = 'upgrade.cron'`).length === 1, '1.x registered its schedules')

    // The upgrade: this release starts on that database, as a worker.
    const started = Date.now()
    const app = await release(t, url, testQueues(runs))
    t.same(
      await db`select 1 from pgboss.job where state < 'completed' and name not like '\_\_pgboss\_\_%'`,
      [],
      'everything waiting was moved',
    )
    // The job whose worker died is active in pg-boss 12 too; its supervisor expires it (its next pass, now).
    await waitFor(
      async () => {
        await app.jobs.boss.supervise('upgrade.work')
        const [job] = await db<{ state: string }[]>`select state::text from pgboss_v12.job where id = ${dying!.id}`
        return job?.state !== 'active'
      },
      { what: 'the expired job to be expired', timeoutMs: 20_000 },
    )

    // Each old job by id: completed exactly once in pg-boss 12, and no longer in pg-boss 10.
    await waitFor(
      async () => {
        const rows = await db<{ state: string }[]>`select state::text from pgboss_v12.job where id in ${db(waiting.map((j) => j.id))}`
        return rows.length === waiting.length && rows.every((r) => r.state === 'completed')
      },
      { what: 'every job 1.x left to complete', timeoutMs: 30_000 },
    )
    const work = (runs.get('upgrade.work') ?? []).sort((a, b) => a.n - b.n)
    t.same(
      work.map(({ n, retryCount }) => ({ n, retryCount })),
      [
        { n: 1, retryCount: 1 }, // its second attempt, as pg-boss 10 would have counted it
        { n: 2, retryCount: 1 }, // expired once
        { n: 3, retryCount: 0 },
        { n: 4, retryCount: 0 },
        { n: 5, retryCount: 0 },
      ],
      'each test job ran once, its retries counted',
    )
    t.ok(work.find((r) => r.n === 4)!.at >= deferredUntil, 'the deferred job waited for its start time')
    t.same(
      runs.get('upgrade.dead')?.map((r) => r.n),
      [6],
      'the dead-lettered job ran in the dead-letter queue',
    )

    // The events: each webhook delivered once, each email sent once.
    await waitFor(() => hooks.received.length >= 2, { what: 'the webhook deliveries', timeoutMs: 20_000 })
    const types = hooks.received.map((r) => (JSON.parse(r.body) as { type: string }).type).sort()
    t.same(types, ['order.created', 'user.registered'], 'one webhook per event')
    t.equal(new Set(hooks.received.map((r) => r.headers['webhook-id'])).size, 2, 'distinct deliveries')
    const emails = await waitFor(
      async () => {
        const res = await app.inject({ method: 'GET', url: '/api/v1/emails?limit=100', headers: admin.headers })
        const list = res.json().data as { template: string; status: string; to: string }[]
        const mine = list.filter((e) => e.to === 'ada@example.test' || e.to === 'buyer@example.test')
        return mine.length >= 3 && mine.every((e) => e.status === 'sent') ? mine : undefined
      },
      { what: 'the emails to be sent', timeoutMs: 20_000 },
    )
    t.same(
      emails.map((e) => e.template).sort(),
      ['order-confirmation', 'verify-email', 'welcome'],
      "one email per event, and the sign-up's verification link (queued with the account)",
    )

    // The schedules: this release owns them (1.x's rows are gone) and they fire.
    t.same(await db`select name from pgboss.schedule where name in ('upgrade.cron', 'reports.nightly-sales')`, [], '1.x schedules removed')
    const schedules = (await app.jobs.boss.getSchedules()).map((s) => s.name)
    for (const name of ['upgrade.cron', 'reports.nightly-sales', 'auth.purge-refresh-tokens', 'orders.purge-idempotency-keys'])
      t.ok(schedules.includes(name), `${name} is scheduled`)
    await waitFor(() => (runs.get('upgrade.cron') ?? []).some((r) => r.at > started), {
      what: 'the every-minute schedule to fire',
      timeoutMs: 90_000,
    })
    t.pass('the every-minute schedule fired after the upgrade')
  },
)

t.test('upgraded one process at a time: 1.x workers and APIs beside this release, every job runs once', async (t) => {
  const url = await createTestDatabase(t, { empty: true })
  const db = postgres(url, { max: 2, onnotice: () => {} })
  t.teardown(() => db.end({ timeout: 1 }))
  const handled: { n: number; by: '1.x' | 'new' }[] = []
  const def = (by: '1.x' | 'new'): JobDefinition => ({
    name: 'upgrade.rolling',
    schema: Payload,
    batchSize: 5,
    handler: async ({ n }) => void handled.push({ n, by }),
  })
  // A queue 1.x had and this release no longer declares.
  const retired: JobDefinition = { name: 'upgrade.retired', schema: Payload, handler: async () => {} }

  // The app's tables exist (1.x migrated them); then pg-boss 10 as 1.x ran it: an API and a worker.
  const migrated = await release(t, url, [], 'api')
  await migrated.close()
  await db`drop schema pgboss_v12 cascade`
  const v1 = await startKeel1Queue(url, [def('1.x'), retired], { worker: true, retryDelaySeconds: 1 })
  t.teardown(() => v1.stop())
  await v1.work('upgrade.rolling', async (data) => void handled.push({ n: (data as { n: number }).n, by: '1.x' }), 5)
  await v1.send('upgrade.retired', { n: 0 })
  for (let n = 0; n < 100; n++) await v1.send('upgrade.rolling', { n })

  // A 2.0 API first: it enqueues into pg-boss 12, which 1.x's worker cannot read; the job waits.
  const api = await release(t, url, [def('new')], 'api')
  const early = await api.jobs.send('upgrade.rolling', { n: 1000 })
  t.same(
    await db`select state::text from pgboss_v12.job where id = ${early!}`,
    [{ state: 'created' }],
    'in pg-boss 12, waiting for a 2.0 worker',
  )

  // This release's first worker starts while 1.x's worker and API keep going.
  const lines: { level: number; msg: string; queue?: string }[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  const config = testConfig(url, { LOG_LEVEL: 'info' })
  const app = await buildChecked({ config, logger: { ...(loggerOptions(config) as object), stream } })
  t.teardown(() => app.close())
  await app.jobs.define(def('new'))
  await app.ready()
  for (let n = 100; n < 200; n++) await v1.send('upgrade.rolling', { n }) // a 1.x API still enqueueing
  await app.jobs.upgrade!.pass() // (what the next pass would do in a few seconds)
  await waitFor(() => new Set(handled.map((h) => h.n)).size === 201, { what: 'all 201 jobs', timeoutMs: 60_000 })
  t.equal(handled.length, 201, 'no job ran twice')
  t.comment(`by 1.x: ${handled.filter((h) => h.by === '1.x').length}, by this release: ${handled.filter((h) => h.by === 'new').length}`)
  t.ok(
    handled.some((h) => h.by === 'new' && h.n < 1000),
    'this release ran jobs moved from pg-boss 10',
  )
  t.same(
    handled.filter((h) => h.n === 1000),
    [{ n: 1000, by: 'new' }],
    "the 2.0 API's job ran on the 2.0 worker",
  )
  t.same(
    await db`select 1 from pgboss.job where name = 'upgrade.rolling' and state < 'completed'`,
    [],
    'nothing left waiting in pg-boss 10',
  )

  await app.jobs.upgrade!.pass()
  t.ok(
    lines.some((l) => l.level === 30 && /^moved \d+ waiting job\(s\) from pg-boss 10/.test(l.msg)),
    'the log says what was moved',
  )
  t.ok(
    lines.some((l) => l.level === 40 && l.queue === 'upgrade.retired' && /does not declare: they are left there/.test(l.msg)),
    'and warns of the queue it cannot move',
  )
  t.same(await db`select state::text from pgboss.job where name = 'upgrade.retired'`, [{ state: 'created' }], 'which stays in pg-boss 10')
  t.ok(
    lines.some((l) => /has no job left to move: once no Keel 1.x process runs, drop it with DROP SCHEMA pgboss CASCADE/.test(l.msg)),
    'and says when the old schema can be dropped',
  )
})
