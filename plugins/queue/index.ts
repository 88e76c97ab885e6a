// pg-boss in the app's own PostgreSQL (schema "pgboss"). Modules declare queues in jobs.ts and they
// are defined here (`app.jobs.define`, called by module discovery); once the app is ready each queue is
// created with its retry/backoff/expiry/dead-letter policy, and ROLE=all|worker runs the workers (each
// job settles on its own) and registers cron schedules. Payloads are validated on send and on receive.
import { createRequire } from 'node:module'
import fp from 'fastify-plugin'
import PgBoss from 'pg-boss'
import { isConnectionError } from '../../src/db/guard.js'
import { serializeError } from '../errors.js'
import type { Static, TSchema } from '@sinclair/typebox'
import { assertPayload, PermanentJobError, type JobContext, type JobDefinition } from './jobs.js'
import { queueStats, type QueueStats } from './stats.js'
import { bossDb, type QueueTx } from './transactions.js'

export { defineJob, PermanentJobError, type JobContext, type JobDefinition, type JobSchedule, type ModuleJobs } from './jobs.js'
export type { QueueTx } from './transactions.js'
export { JOB_STATES, type JobState, type QueueStats } from './stats.js'

export interface SendOptions extends Omit<PgBoss.SendOptions, 'db'> {
  /** The job commits or rolls back with this transaction. */
  tx?: QueueTx
}

/** One job of a multi-queue insert. */
export interface NewJob {
  name: string
  data: unknown
  startAfter?: Date
  retryLimit?: number
}

export interface Jobs {
  boss: PgBoss
  send: (name: string, data: unknown, options?: SendOptions) => Promise<string | null>
  /** Many jobs, of one queue or several, in one statement (in `tx` when given). */
  insert: (jobs: NewJob[], options?: { tx?: QueueTx }) => Promise<void>
  /** Job counts by queue and state, for every declared queue (zeros included). */
  stats: () => Promise<QueueStats>
  /** Declare a queue: modules' jobs.ts (through module discovery), tests and benchmarks. */
  define: <S extends TSchema>(def: JobDefinition<S>) => Promise<void>
  definitions: Map<string, JobDefinition>
}

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs
  }
}

// pg-boss 10 settles a batch after its handler without awaiting it (manager.js, onFetch:
// `this.complete(...)`, `this.fail(...)`). While the database is unreachable that call rejects with
// no handler: an unhandled rejection, which ends the process. Those promises are marked handled
// here (the jobs stay active and are retried after their expiry); callers that await still see the error.
const { prototype: manager } = createRequire(import.meta.url)('pg-boss/src/manager.js') as {
  prototype: Record<'complete' | 'fail', (...args: unknown[]) => Promise<unknown>>
}
for (const name of ['complete', 'fail'] as const) {
  const settle = manager[name]
  const handled = function (this: unknown, ...args: unknown[]) {
    const settled = settle.apply(this, args)
    settled.catch(() => {})
    return settled
  }
  // PgBoss exposes a manager's functions under their names (boss.complete, boss.fail): keep them.
  Object.defineProperty(handled, 'name', { value: name })
  manager[name] = handled
}

const QUEUE_LOCK = 7_325_003 // constant key of the advisory lock around queue creation (migrations use 7_325_001)

// A failed job's output is stored (pgboss.job.output): a query error's message without its parameters.
const errorOutput = (err: unknown) =>
  err instanceof Error ? { name: err.name, message: serializeError(err).message } : { name: 'Error', message: String(err) }

export interface QueuePluginOptions {
  offline?: boolean
}

export default fp<QueuePluginOptions>(
  async (fastify, { offline = false }) => {
    const { config } = fastify
    const runsWorkers = config.ROLE !== 'api'
    const schema = 'pgboss'
    const boss = new PgBoss({
      connectionString: config.DATABASE_URL,
      schema,
      max: Math.max(2, Math.ceil(config.DB_POOL_MAX / 2)),
      application_name: 'keel-queue',
      supervise: runsWorkers,
      schedule: runsWorkers,
      // node-postgres leaves a query waiting for a pooled connection pending forever once the pool
      // is ending; pg-boss's stop() then waits on that worker for good (the process never exits).
      // A checkout timeout turns the wait into an error the worker loop handles.
      connectionTimeoutMillis: config.DB_CONNECT_TIMEOUT_S * 1000,
      // A frozen database never answers and its statement timeout cannot fire: a client-side bound
      // ends such a query (and so lets stop() finish) instead of waiting for ever.
      query_timeout: Math.max(config.DB_STATEMENT_TIMEOUT_MS, 5000) + 1000,
    } as PgBoss.ConstructorOptions)
    boss.on('error', (err: Error & { code?: string }) => {
      // While the database is known down, its outage is logged once (plugins/db.ts): the workers'
      // failed polls are not news. A connection error before that is a warning, anything else an error.
      if (!fastify.dbStats().up) fastify.log.debug({ err }, 'queue error (database unavailable)')
      else if (isConnectionError(err) || /connect|terminated|timeout/i.test(err.message)) fastify.log.warn({ err }, 'queue error')
      else fastify.log.error({ err }, 'queue error')
    })

    const definitions = new Map<string, JobDefinition>()
    const definitionOf = (name: string) => {
      const def = definitions.get(name)
      if (!def) throw new Error(`unknown queue ${name}`)
      return def
    }

    const send: Jobs['send'] = async (name, data, options = {}) => {
      assertPayload(definitionOf(name), data)
      const { tx, ...rest } = options
      return boss.send(name, data as object, { ...rest, ...(tx ? { db: bossDb(tx) } : {}) })
    }

    const insert: Jobs['insert'] = async (jobs, { tx } = {}) => {
      if (jobs.length === 0) return
      for (const job of jobs) assertPayload(definitionOf(job.name), job.data)
      const rows = jobs.map(({ name, data, startAfter, retryLimit }) => ({
        name,
        data: data as object,
        ...(startAfter ? { startAfter: startAfter.toISOString() } : {}),
        ...(retryLimit === undefined ? {} : { retryLimit }),
      }))
      await boss.insert(rows, tx ? { db: bossDb(tx) } : {})
    }

    const stats: Jobs['stats'] = async () => {
      const names = new Set<string>()
      for (const def of definitions.values()) {
        names.add(def.name)
        if (def.queue?.deadLetter) names.add(def.queue.deadLetter)
      }
      return queueStats(boss, schema, names)
    }

    const policyOf = (def: JobDefinition): PgBoss.Queue => ({
      retryLimit: 3,
      retryDelay: config.JOB_RETRY_DELAY_SECONDS,
      retryBackoff: true,
      ...def.queue,
      name: def.name,
    })
    const upsertQueue = async (queue: PgBoss.Queue) => {
      if (await boss.getQueue(queue.name)) await boss.updateQueue(queue.name, queue)
      else await boss.createQueue(queue.name, queue)
    }
    /** Create queues (dead-letter targets first: they must exist when the queue naming them is created). */
    const ensureQueues = async (defs: JobDefinition[]) => {
      const policies = new Map(defs.map((def) => [def.name, policyOf(def)]))
      const targets = new Set(defs.map((def) => def.queue?.deadLetter).filter((n): n is string => !!n))
      for (const dlq of targets) if (!policies.has(dlq) && !definitions.has(dlq)) await upsertQueue({ name: dlq })
      for (const queue of [...policies.values()].sort((a, b) => Number(targets.has(b.name)) - Number(targets.has(a.name)))) {
        await upsertQueue(queue)
      }
    }

    // Mark a job as out of retries so the next fail() lands it in `failed` (and its dead-letter queue).
    const exhaust = (name: string, id: string) =>
      boss.getDb().executeSql(`UPDATE ${schema}.job SET retry_limit = retry_count WHERE name = $1 AND id = $2`, [name, id])

    const runBatch = async (def: JobDefinition, jobs: PgBoss.JobWithMetadata<unknown>[]) => {
      const done: { id: string; output: unknown }[] = []
      await Promise.all(
        jobs.map(async (job) => {
          const log = fastify.log.child({ queue: def.name, jobId: job.id })
          const ctx: JobContext = {
            id: job.id,
            retryCount: job.retryCount,
            retryLimit: job.retryLimit,
            isFinalAttempt: job.retryCount >= job.retryLimit,
            log,
          }
          try {
            assertPayload(def, job.data)
            done.push({ id: job.id, output: await def.handler(job.data as Static<typeof def.schema>, ctx) })
          } catch (err) {
            const permanent = err instanceof PermanentJobError
            if (permanent) await exhaust(def.name, job.id)
            log.warn(
              { err, retryCount: job.retryCount, retryLimit: job.retryLimit, willRetry: !permanent && !ctx.isFinalAttempt },
              'job failed',
            )
            await boss.fail(def.name, job.id, errorOutput(err))
          }
        }),
      )
      // One statement for the batch's successes (a lone job keeps its handler's output).
      if (done.length === 1) {
        const { id, output } = done[0]!
        await boss.complete(def.name, id, output && typeof output === 'object' ? output : {})
      } else if (done.length > 1) {
        await boss.complete(
          def.name,
          done.map((d) => d.id),
        )
      }
    }

    const startWorker = async (def: JobDefinition) => {
      const batchSize = def.batchSize ?? 1
      const worker = { id: '' }
      worker.id = await boss.work(
        def.name,
        { batchSize, includeMetadata: true, pollingIntervalSeconds: def.pollingIntervalSeconds ?? config.JOB_POLL_INTERVAL_SECONDS },
        async (jobs) => {
          await runBatch(def, jobs)
          // A full batch means more are likely waiting: poll again now instead of after the interval.
          if (jobs.length === batchSize && worker.id) boss.notifyWorker(worker.id)
        },
      )
      if (def.schedule) {
        // Keyed by name: every instance registering the same schedule leaves one row, one run per tick.
        await boss.schedule(def.name, def.schedule.cron, def.schedule.data ?? {}, def.schedule.tz ? { tz: def.schedule.tz } : {})
      }
    }

    let started = false
    let working = false
    const define: Jobs['define'] = async (def) => {
      if (definitions.has(def.name)) throw new Error(`queue ${def.name} is declared twice`)
      definitions.set(def.name, def as unknown as JobDefinition)
      if (started) await ensureQueues([def as unknown as JobDefinition])
      if (working) await startWorker(def as unknown as JobDefinition)
    }

    fastify.decorate('jobs', { boss, send, insert, stats, define, definitions })
    if (offline) return

    await boss.start()
    // Modules define their queues while the app loads (src/app/modules.ts); they are created once it is ready.
    fastify.addHook('onReady', async () => {
      // Instances starting together on a fresh database would create the same queues at once, and
      // pg-boss's create_queue deadlocks against itself: one instance at a time (a transaction-scoped
      // advisory lock, held while pg-boss works on its own connections).
      await fastify.sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${QUEUE_LOCK})`
        await ensureQueues([...definitions.values()])
      })
      started = true
      if (!runsWorkers) return
      for (const def of definitions.values()) await startWorker(def)
      working = true
    })

    fastify.addHook('onClose', async () => {
      // Let running jobs finish within the shutdown bound, then close pg-boss's pool.
      await boss.stop({ graceful: true, wait: true, timeout: config.SHUTDOWN_TIMEOUT_MS })
    })
  },
  { fastify: '5.x', name: 'queue', dependencies: ['config', 'db'] },
)
