// pg-boss in the app's own PostgreSQL (schema "pgboss"). Modules declare queues in jobs.ts;
// this plugin discovers them, creates each queue with its retry/backoff/expiry/dead-letter policy,
// validates payloads on send and on receive, runs the workers for ROLE=all|worker (each job settles
// on its own), registers cron schedules, and reports queue sizes by state.
import fp from 'fastify-plugin'
import PgBoss from 'pg-boss'
import type { FastifyInstance } from 'fastify'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type postgres from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import type { DbOrTx } from '../src/db/client.js'
import { discoverModules, importDefault } from '../src/modules.js'

export interface JobContext {
  id: string
  /** 0 on the first attempt, 1 on the first retry, ... */
  retryCount: number
  retryLimit: number
  /** True when a failure now would not be retried (the job goes to its dead-letter queue, if any). */
  isFinalAttempt: boolean
  log: FastifyInstance['log']
}

export interface JobSchedule {
  /** Five-field cron expression (UTC unless tz). Keyed by the queue name, so every instance may register it. */
  cron: string
  tz?: string
  data?: object
}

export interface JobDefinition<S extends TSchema = TSchema> {
  name: string
  schema: S
  /**
   * Queue policy: retryLimit, retryDelay (s), retryBackoff, expireInSeconds, deadLetter, policy...
   * Defaults: retryLimit 3, retryDelay JOB_RETRY_DELAY_SECONDS, retryBackoff true.
   */
  queue?: Omit<PgBoss.Queue, 'name'>
  /** Jobs fetched per poll; they run concurrently and each settles (completes/fails) on its own. */
  batchSize?: number
  pollingIntervalSeconds?: number
  /** Run this queue on a cron schedule (the payload is `schedule.data`, default `{}`). */
  schedule?: JobSchedule
  // Method syntax on purpose: a JobDefinition<TObject<...>> then fits in a JobDefinition[] list.
  handler(data: Static<S>, ctx: JobContext): Promise<unknown>
}

/** Throw from a handler to fail a job without retrying it (it still goes to its dead-letter queue). */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError'
}

export const defineJob = <S extends TSchema>(job: JobDefinition<S>): JobDefinition<S> => job
/** A module's jobs.ts default-exports this: its jobs, given the app (for db, config, ...). */
export type ModuleJobs = (app: FastifyInstance) => JobDefinition[] | Promise<JobDefinition[]>

/** A transaction to enqueue in: a Drizzle transaction or a postgres.js one (`sql.begin`). */
export type QueueTx = DbOrTx | postgres.TransactionSql

export interface SendOptions extends Omit<PgBoss.SendOptions, 'db'> {
  /** The job commits or rolls back with this transaction. */
  tx?: QueueTx
}

export const JOB_STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'] as const
export type JobState = (typeof JOB_STATES)[number]
export type QueueStats = Record<string, Record<JobState, number>>

export interface Jobs {
  boss: PgBoss
  send: (name: string, data: unknown, options?: SendOptions) => Promise<string | null>
  /** Many jobs of one queue in one statement (same options for all). */
  sendMany: (name: string, data: unknown[], options?: Pick<SendOptions, 'tx' | 'startAfter' | 'retryLimit'>) => Promise<void>
  /** Job counts by queue and state, for every queue the modules declare (zeros included). */
  stats: () => Promise<QueueStats>
  /** Declare a queue at run time (tests, benchmarks); modules use jobs.ts instead. */
  define: <S extends TSchema>(def: JobDefinition<S>) => Promise<void>
  definitions: Map<string, JobDefinition>
}

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs
  }
}

/** The postgres.js handle behind a Drizzle transaction (or the postgres.js transaction itself). */
function rawSql(tx: QueueTx): postgres.Sql | postgres.TransactionSql {
  if (typeof tx === 'function') return tx
  const client = (tx as unknown as { session?: { client?: postgres.Sql } }).session?.client
  if (typeof client?.unsafe !== 'function') throw new Error('expected a Drizzle (postgres-js) or postgres.js transaction')
  return client
}

/**
 * A Drizzle handle over the same transaction: a Drizzle one is returned as is; a postgres.js one
 * (from `fastify.sql.begin`, whose pool Drizzle already configured) is wrapped without touching it.
 */
export function drizzleOf(tx: QueueTx): DbOrTx {
  if (typeof tx !== 'function') return tx
  const client = { unsafe: tx.unsafe.bind(tx), savepoint: tx.savepoint.bind(tx), options: { parsers: {}, serializers: {} } }
  return drizzle(client as unknown as postgres.Sql, { casing: 'snake_case' })
}

/** pg-boss's `db` option bound to a transaction: what it writes commits or rolls back with it. */
export const bossDb = (tx: QueueTx): PgBoss.Db => {
  const sql = rawSql(tx)
  // Bind parameters the way node-postgres (pg-boss's own driver) does: undefined is NULL, a plain
  // object is JSON text; postgres.js would refuse both.
  const param = (v: unknown) =>
    v === undefined
      ? null
      : v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v)
        ? JSON.stringify(v)
        : v
  const params = (values: unknown[]) => values.map(param) as postgres.ParameterOrJSON<never>[]
  return { executeSql: async (text, values) => ({ rows: await sql.unsafe(text, params(values ?? [])) }) }
}

function assertPayload(def: JobDefinition, data: unknown): void {
  if (Value.Check(def.schema, data)) return
  const first = [...Value.Errors(def.schema, data)][0]
  throw new Error(`invalid payload for ${def.name}: ${first?.path || '/'} ${first?.message}`)
}

const errorOutput = (err: unknown) =>
  err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) }

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
    } as PgBoss.ConstructorOptions)
    boss.on('error', (err) => fastify.log.error({ err }, 'queue error'))

    const definitions = new Map<string, JobDefinition>()
    const send: Jobs['send'] = async (name, data, options = {}) => {
      const def = definitions.get(name)
      if (!def) throw new Error(`unknown queue ${name}`)
      assertPayload(def, data)
      const { tx, ...rest } = options
      return boss.send(name, data as object, { ...rest, ...(tx ? { db: bossDb(tx) } : {}) })
    }

    const sendMany: Jobs['sendMany'] = async (name, items, options = {}) => {
      const def = definitions.get(name)
      if (!def) throw new Error(`unknown queue ${name}`)
      if (items.length === 0) return
      for (const data of items) assertPayload(def, data)
      const { tx, startAfter, retryLimit } = options
      const startAfterValue =
        startAfter instanceof Date
          ? startAfter.toISOString()
          : typeof startAfter === 'number'
            ? new Date(Date.now() + startAfter * 1000).toISOString()
            : startAfter
      const jobs = items.map((data) => ({
        name,
        data: data as object,
        ...(startAfterValue ? { startAfter: startAfterValue } : {}),
        ...(retryLimit === undefined ? {} : { retryLimit }),
      }))
      await boss.insert(jobs, tx ? { db: bossDb(tx) } : {})
    }

    const stats: Jobs['stats'] = async () => {
      const names = new Set<string>()
      for (const def of definitions.values()) {
        names.add(def.name)
        if (def.queue?.deadLetter) names.add(def.queue.deadLetter)
      }
      const out: QueueStats = {}
      for (const name of names) out[name] = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>
      if (names.size === 0) return out
      const { rows } = await boss
        .getDb()
        .executeSql(
          `SELECT name, state::text AS state, count(*)::int AS count FROM ${schema}.job WHERE name = ANY($1::text[]) GROUP BY 1, 2`,
          [[...names]],
        )
      for (const row of rows as { name: string; state: JobState; count: number }[]) {
        const queue = out[row.name]
        if (queue) queue[row.state] = row.count
      }
      return out
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
    /** Create a queue (its dead-letter target first: it must exist when the queue is created). */
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

    fastify.decorate('jobs', { boss, send, sendMany, stats, define, definitions })
    // Discovered after the decorator exists, so a module's jobs.ts may capture `app.jobs`.
    for (const mod of discoverModules()) {
      if (!mod.jobs) continue
      const factory = await importDefault<ModuleJobs>(mod.jobs)
      for (const job of await factory(fastify)) {
        if (definitions.has(job.name)) throw new Error(`queue ${job.name} is declared twice (module ${mod.name})`)
        definitions.set(job.name, job)
      }
    }

    if (offline) return

    await boss.start()
    await ensureQueues([...definitions.values()])
    started = true

    if (runsWorkers) {
      fastify.addHook('onReady', async () => {
        for (const def of definitions.values()) await startWorker(def)
        working = true
      })
    }

    fastify.addHook('onClose', async () => {
      // Let running jobs finish within the shutdown bound, then close pg-boss's pool.
      await boss.stop({ graceful: true, wait: true, timeout: config.SHUTDOWN_TIMEOUT_MS })
    })
  },
  { fastify: '5.x', name: 'queue', dependencies: ['config', 'db'] },
)
