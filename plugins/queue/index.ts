// pg-boss 12 in the app's own PostgreSQL (schema QUEUE_SCHEMA). Modules declare queues in jobs.ts and
// they are defined here (`app.jobs.define`, called by module discovery); once the app is ready each
// queue is created with its retry/backoff/expiry/dead-letter policy, and ROLE=all|worker runs the
// workers (each job of a batch settles on its own) and registers cron schedules. Payloads are
// validated on send and on receive. Workers also move what Keel 1.x left in pg-boss 10 (upgrade.ts).
import fp from 'fastify-plugin'
import {
  PgBoss,
  type ConstructorOptions,
  type JobResult,
  type JobWithMetadata,
  type Queue,
  type SendOptions as BossSendOptions,
} from 'pg-boss'
import { queuePoolMax } from '../../src/db/budget.js'
import { sessionUrl } from '../../src/db/client.js'
import { isConnectionError } from '../../src/db/guard.js'
import { serializeError } from '../errors.js'
import type { Static, TSchema } from '@sinclair/typebox'
import { assertPayload, PermanentJobError, type JobContext, type JobDefinition } from './jobs.js'
import { queueLag, queueStats, type QueueStats } from './stats.js'
import { QUEUE_SCHEMA } from './storage.js'
import { bossDb, type QueueTx } from './transactions.js'
import { drainPgBoss10, type Pg10Drain } from './upgrade.js'
import { inJobSpan, takeTraceContext, withTraceContext } from './tracing.js'

export { defineJob, PermanentJobError, type JobContext, type JobDefinition, type JobSchedule, type ModuleJobs } from './jobs.js'
export type { QueueTx } from './transactions.js'
export { JOB_STATES, type JobState, type QueueStats } from './stats.js'
export { QUEUE_SCHEMA } from './storage.js'

export interface SendOptions extends Omit<BossSendOptions, 'db'> {
  /** The job commits or rolls back with this transaction. */
  tx?: QueueTx
}

/** One job of a multi-queue insert. */
export interface NewJob {
  name: string
  data: unknown
  startAfter?: Date
  retryLimit?: number
  /** The job's group (e.g. its owner), for the queue's `groupConcurrency`. */
  group?: string
}

export interface Jobs {
  boss: PgBoss
  send: (name: string, data: unknown, options?: SendOptions) => Promise<string | null>
  /** Many jobs, of one queue or several (one statement per queue), in `tx` when given. */
  insert: (jobs: NewJob[], options?: { tx?: QueueTx }) => Promise<void>
  /** Job counts by queue and state, for every declared queue (zeros included). */
  stats: () => Promise<QueueStats>
  /** Seconds the oldest job ready to run has waited, by queue (queues with none waiting are absent). */
  lag: () => Promise<Record<string, number>>
  /** The dead-letter queues the declared queues name. */
  deadLetterQueues: () => string[]
  /** Declare a queue: modules' jobs.ts (through module discovery), tests and benchmarks. */
  define: <S extends TSchema>(def: JobDefinition<S>) => Promise<void>
  definitions: Map<string, JobDefinition>
  /** Moving Keel 1.x's jobs out of pg-boss 10, while that schema exists (workers only). */
  upgrade?: Pg10Drain
  /** Called as each job settles, with how long its handler ran (the metrics plugin observes it). */
  onSettled: (listener: (queue: string, outcome: 'completed' | 'failed', seconds: number) => void) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs
  }
}

// A failed job's output is stored (output column): a query error's message without its parameters.
const errorOutput = (err: unknown) =>
  err instanceof Error ? { name: err.name, message: serializeError(err).message } : { name: 'Error', message: String(err) }

export interface QueuePluginOptions {
  offline?: boolean
}

export default fp<QueuePluginOptions>(
  async (fastify, { offline = false }) => {
    const { config } = fastify
    const runsWorkers = config.ROLE !== 'api'
    const schema = QUEUE_SCHEMA
    // node-postgres (pg-boss's driver) bounds both waits that could hang a worker or stop(): a checkout
    // from the pool (connectionTimeoutMillis, pg-boss's option) and a query a frozen database never
    // answers, where the server's statement timeout cannot fire (query_timeout, node-postgres's own
    // option, which pg-boss hands to its pg.Pool with the rest of its options).
    const options: ConstructorOptions & { query_timeout: number } = {
      // pg-boss's own pool (maintenance, schema and queue creation, their locks) on the direct URL:
      // none of it goes through a pooler in transaction mode.
      connectionString: sessionUrl(config),
      schema,
      max: queuePoolMax(config.DB_POOL_MAX),
      application_name: 'keel-queue',
      instanceName: `keel-${config.ROLE}`,
      supervise: runsWorkers,
      schedule: runsWorkers,
      connectionTimeoutMillis: config.DB_CONNECT_TIMEOUT_S * 1000,
      query_timeout: Math.max(config.DB_STATEMENT_TIMEOUT_MS, 5000) + 1000,
      // With tracing on (src/app/instrumentation.ts), pg-boss stores the trace context with each job
      // and its process span continues it (tracing.ts). Without an SDK this stores nothing.
      openTelemetry: { propagateContext: true },
    }
    const boss = new PgBoss(options)
    boss.on('error', (err: Error & { code?: string }) => {
      // While the database is known down, its outage is logged once (plugins/db.ts): the workers'
      // failed polls are not news. A connection error before that is a warning, anything else an error.
      if (!fastify.dbStats().up) fastify.log.debug({ err }, 'queue error (database unavailable)')
      else if (isConnectionError(err) || /connect|terminated|timeout/i.test(err.message)) fastify.log.warn({ err }, 'queue error')
      else fastify.log.error({ err }, 'queue error')
    })
    // pg-boss's own advice: slow queries, backlogs past a queue's warningQueueSize, clock skew, ...
    boss.on('warning', ({ message, data }) => fastify.log.warn({ queueWarning: data }, `queue: ${message}`))

    const definitions = new Map<string, JobDefinition>()
    const definitionOf = (name: string) => {
      const def = definitions.get(name)
      if (!def) throw new Error(`unknown queue ${name}`)
      return def
    }

    const send: Jobs['send'] = async (name, data, options = {}) => {
      assertPayload(definitionOf(name), data)
      const { tx, ...rest } = options
      return boss.send(name, withTraceContext(data) as object, { ...rest, ...(tx ? { db: bossDb(tx) } : {}) })
    }

    const insert: Jobs['insert'] = async (jobs, { tx } = {}) => {
      if (jobs.length === 0) return
      const byQueue = new Map<string, NewJob[]>()
      for (const job of jobs) {
        assertPayload(definitionOf(job.name), job.data)
        byQueue.set(job.name, [...(byQueue.get(job.name) ?? []), job])
      }
      const db = tx ? bossDb(tx) : undefined
      for (const [name, batch] of byQueue) {
        const rows = batch.map(({ data, startAfter, retryLimit, group }) => ({
          data: withTraceContext(data) as object,
          ...(startAfter ? { startAfter } : {}),
          ...(retryLimit === undefined ? {} : { retryLimit }),
          ...(group ? { group: { id: group } } : {}),
        }))
        await boss.insert(name, rows, db ? { db } : {})
      }
    }

    const deadLetters = () => [...definitions.values()].map((def) => def.queue?.deadLetter).filter((n): n is string => !!n)
    const queueNames = () => [...new Set([...definitions.keys(), ...deadLetters()])]

    const stats: Jobs['stats'] = async () => queueStats(boss, schema, new Set(queueNames()))
    const lag: Jobs['lag'] = async () => queueLag(boss, schema, new Set(queueNames()))

    const policyOf = (def: JobDefinition): Queue => ({
      retryLimit: 3,
      retryDelay: config.JOB_RETRY_DELAY_SECONDS,
      retryBackoff: true,
      ...def.queue,
      name: def.name,
    })
    const upsertQueue = async ({ name, policy, partition, ...options }: Queue) => {
      const existing = await boss.getQueue(name)
      if (!existing) return boss.createQueue(name, { ...options, ...(policy ? { policy } : {}), ...(partition ? { partition } : {}) })
      if ((policy ?? 'standard') !== (existing.policy ?? 'standard')) {
        fastify.log.warn(
          { queue: name, policy: existing.policy, declared: policy ?? 'standard' },
          `queue ${name} keeps its policy ${existing.policy}: a policy is fixed when the queue is created`,
        )
      }
      // What the definition no longer names goes back to pg-boss's default (null clears it).
      await boss.updateQueue(name, { ...options, deadLetter: options.deadLetter ?? null })
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

    const settledListeners: Parameters<Jobs['onSettled']>[0][] = []
    const settled = (queue: string, outcome: 'completed' | 'failed', started: number) => {
      for (const listener of settledListeners) listener(queue, outcome, (performance.now() - started) / 1000)
    }

    /**
     * A batch through its handler: each job's outcome is returned and pg-boss settles each on its own.
     * The handler runs in the job's span (with tracing on: a child of what queued it, tracing.ts).
     */
    const runBatch = async (def: JobDefinition, jobs: JobWithMetadata<unknown>[]): Promise<JobResult[]> =>
      Promise.all(
        jobs.map(takeTraceContext).map(async (job): Promise<JobResult> => {
          const started = performance.now()
          const log = fastify.log.child({ queue: def.name, jobId: job.id })
          const ctx: JobContext = {
            id: job.id,
            retryCount: job.retryCount,
            retryLimit: job.retryLimit,
            isFinalAttempt: job.retryCount >= job.retryLimit,
            log,
            signal: job.signal,
          }
          try {
            assertPayload(def, job.data)
            const output = await inJobSpan(def.name, job, () => def.handler(job.data as Static<typeof def.schema>, ctx))
            settled(def.name, 'completed', started)
            return { id: job.id, status: 'completed', ...(output && typeof output === 'object' ? { output } : {}) }
          } catch (err) {
            // A permanent failure skips the retries left and goes to the dead-letter queue, if any.
            const permanent = err instanceof PermanentJobError
            log.warn(
              { err, retryCount: job.retryCount, retryLimit: job.retryLimit, willRetry: !permanent && !ctx.isFinalAttempt },
              'job failed',
            )
            settled(def.name, 'failed', started)
            return { id: job.id, status: permanent ? 'deadletter' : 'failed', output: errorOutput(err) }
          }
        }),
      )

    /**
     * `concurrency` workers, each fetching its own batches: a slow batch holds its own worker only. Each
     * keeps its id, so a full batch wakes that worker at once. `groupConcurrency` caps the jobs of one
     * group running at once across every worker (pg-boss counts them in the database).
     */
    const startWorker = async (def: JobDefinition) => {
      const batchSize = def.batchSize ?? 1
      for (let i = 0; i < (def.concurrency ?? 1); i++) {
        const worker = { id: '' }
        worker.id = await boss.work(
          def.name,
          {
            batchSize,
            includeMetadata: true,
            perJobResults: true,
            pollingIntervalSeconds: def.pollingIntervalSeconds ?? config.JOB_POLL_INTERVAL_SECONDS,
            ...(def.groupConcurrency ? { groupConcurrency: def.groupConcurrency } : {}),
          },
          async (jobs: JobWithMetadata<unknown>[]) => {
            // A full batch means more are likely waiting: poll again as soon as this one settles. (pg-boss's
            // burstWhenBatchFull does this for batches of more than one job only.)
            if (jobs.length === batchSize && worker.id) boss.notifyWorker(worker.id)
            return runBatch(def, jobs)
          },
        )
      }
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

    const onSettled: Jobs['onSettled'] = (listener) => void settledListeners.push(listener)
    const jobs: Jobs = { boss, send, insert, stats, lag, deadLetterQueues: deadLetters, define, definitions, onSettled }
    fastify.decorate('jobs', jobs)
    if (offline) return

    await boss.start()
    // Modules define their queues while the app loads (src/app/modules.ts); they are created once it is
    // ready (pg-boss creates each under an advisory lock: instances starting together create it once).
    fastify.addHook('onReady', async () => {
      await ensureQueues([...definitions.values()])
      started = true
      if (!runsWorkers) return
      jobs.upgrade = await drainPgBoss10({
        db: boss.getDb(),
        queues: queueNames,
        schedules: () => [...definitions.values()].filter((def) => def.schedule).map((def) => def.name),
        log: fastify.log,
      })
      for (const def of definitions.values()) await startWorker(def)
      working = true
    })

    fastify.addHook('onClose', async () => {
      await jobs.upgrade?.stop()
      // Let running jobs finish within the shutdown bound; pg-boss then fails what still runs (to be
      // retried), marks its instance stopped and closes its pool. Those last steps each wait on the
      // database, one after another (each bounded by query_timeout): with the database frozen they
      // would add up past the bound, so shutdown waits for them only a second more, and they finish
      // (or fail) on their own.
      const stopped = boss.stop({ graceful: true, timeout: config.SHUTDOWN_TIMEOUT_MS })
      stopped.catch((err: unknown) => fastify.log.warn({ err }, 'queue stop failed'))
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        stopped.catch(() => {}),
        new Promise((resolve) => (timer = setTimeout(resolve, config.SHUTDOWN_TIMEOUT_MS + 1000))),
      ])
      clearTimeout(timer)
    })
  },
  { fastify: '5.x', name: 'queue', dependencies: ['config', 'db'] },
)
