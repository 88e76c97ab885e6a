// Keel 1.x's queue, for the upgrade tests: pg-boss 10.4.2 (the npm alias pg-boss-10, the version Keel
// 1.x locked) set up the way 1.x's plugins/queue did it, call for call: its constructor options and
// schema ("pgboss"), each queue created with 1.x's policy (retryLimit 3, retryDelay
// JOB_RETRY_DELAY_SECONDS, backoff, then the definition's own; dead-letter queues first), cron
// schedules keyed by name, jobs sent or inserted (several queues in one statement), workers that
// complete or fail each job. Used to make a database as 1.x left it, and to run 1.x beside this release.
import PgBoss from 'pg-boss-10'
import type { JobDefinition } from '../../plugins/queue/index.js'

export interface Keel1Queue {
  boss: PgBoss
  /** 1.x's app.jobs.send and app.jobs.insert. */
  send: (name: string, data: object, options?: PgBoss.SendOptions) => Promise<string>
  insert: (jobs: { name: string; data: object }[]) => Promise<void>
  /** A 1.x worker on one queue: each job completed, or failed when the handler throws. */
  work: (name: string, handler: (data: unknown, job: PgBoss.JobWithMetadata<unknown>) => Promise<void>, batchSize?: number) => Promise<void>
  stop: () => Promise<void>
}

export interface Keel1Options {
  /** A 1.x worker process (ROLE=all or worker) supervises, and fires cron; an API process does neither. */
  worker: boolean
  retryDelaySeconds: number
  pollSeconds?: number
}

export async function startKeel1Queue(url: string, defs: JobDefinition[], opts: Keel1Options): Promise<Keel1Queue> {
  const boss = new PgBoss({
    connectionString: url,
    schema: 'pgboss',
    max: 3,
    application_name: 'keel-queue',
    supervise: opts.worker,
    schedule: opts.worker,
    connectionTimeoutMillis: 5000,
    query_timeout: 6000,
  } as PgBoss.ConstructorOptions) // (1.x passed node-postgres's own timeouts through, as this release does)
  boss.on('error', () => {}) // 1.x logged these; a test has no use for them
  await boss.start()

  // 1.x's ensureQueues: dead-letter targets first, then every queue with its policy.
  const policies = new Map(
    defs.map((def) => [def.name, { retryLimit: 3, retryDelay: opts.retryDelaySeconds, retryBackoff: true, ...def.queue } as PgBoss.Queue]),
  )
  const targets = new Set(defs.map((def) => def.queue?.deadLetter).filter((n): n is string => !!n))
  const upsert = async (name: string, policy: PgBoss.Queue) => {
    if (await boss.getQueue(name)) await boss.updateQueue(name, policy)
    else await boss.createQueue(name, policy)
  }
  for (const dlq of targets) if (!policies.has(dlq)) await upsert(dlq, {} as PgBoss.Queue)
  for (const [name, policy] of [...policies].sort(([a], [b]) => Number(targets.has(b)) - Number(targets.has(a)))) await upsert(name, policy)
  // 1.x registered its schedules when its workers started (every worker, keyed by name).
  for (const def of defs)
    if (def.schedule)
      await boss.schedule(def.name, def.schedule.cron, def.schedule.data ?? {}, def.schedule.tz ? { tz: def.schedule.tz } : {})

  return {
    boss,
    send: async (name, data, options = {}) => {
      const id = await boss.send(name, data, options)
      if (!id) throw new Error(`pg-boss 10 refused a job for ${name}`)
      return id
    },
    insert: (jobs) => boss.insert(jobs),
    work: async (name, handler, batchSize = 1) => {
      await boss.work(name, { batchSize, includeMetadata: true, pollingIntervalSeconds: opts.pollSeconds ?? 0.5 }, async (jobs) => {
        for (const job of jobs) {
          try {
            await handler(job.data, job)
            await boss.complete(name, job.id)
          } catch (err) {
            await boss.fail(name, job.id, { message: String(err) })
          }
        }
      })
    },
    stop: () => boss.stop({ graceful: true, wait: true, timeout: 5000 }),
  }
}
