// pg-boss in the app's own PostgreSQL (schema "pgboss"). Modules declare queues in jobs.ts;
// this plugin discovers them, creates each queue with its retry/backoff/expiry/dead-letter policy,
// validates payloads on send and on receive, and runs the workers for ROLE=all|worker.
import fp from 'fastify-plugin'
import PgBoss from 'pg-boss'
import type { FastifyInstance } from 'fastify'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import type postgres from 'postgres'
import { discoverModules, importDefault } from '../src/modules.js'

export interface JobContext {
  id: string
  retryCount: number
  log: FastifyInstance['log']
}

export interface JobDefinition<S extends TSchema = TSchema> {
  name: string
  schema: S
  /** Queue policy: retryLimit, retryDelay (s), retryBackoff, expireInSeconds, deadLetter, ... */
  queue?: Omit<PgBoss.Queue, 'name'>
  /** Jobs fetched per poll; each is handled on its own. */
  batchSize?: number
  pollingIntervalSeconds?: number
  handler: (data: Static<S>, ctx: JobContext) => Promise<unknown>
}

export const defineJob = <S extends TSchema>(job: JobDefinition<S>): JobDefinition<S> => job
/** A module's jobs.ts default-exports this: its jobs, given the app (for db, config, ...). */
export type ModuleJobs = (app: FastifyInstance) => JobDefinition[] | Promise<JobDefinition[]>

export interface SendOptions extends Omit<PgBoss.SendOptions, 'db'> {
  /** A postgres.js transaction: the job commits or rolls back with it. */
  tx?: postgres.TransactionSql
}

export interface Jobs {
  boss: PgBoss
  send: (name: string, data: unknown, options?: SendOptions) => Promise<string | null>
  definitions: Map<string, JobDefinition>
}

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs
  }
}

/** pg-boss's `db` option bound to a postgres.js transaction. */
export const bossDb = (tx: postgres.TransactionSql): PgBoss.Db => ({
  executeSql: async (text, values) => ({ rows: await tx.unsafe(text, values as postgres.ParameterOrJSON<never>[]) }),
})

export interface QueuePluginOptions {
  offline?: boolean
}

export default fp<QueuePluginOptions>(
  async (fastify, { offline = false }) => {
    const { config } = fastify
    const runsWorkers = config.ROLE !== 'api'
    const boss = new PgBoss({
      connectionString: config.DATABASE_URL,
      schema: 'pgboss',
      max: Math.max(2, Math.ceil(config.DB_POOL_MAX / 2)),
      application_name: 'keel-queue',
      supervise: runsWorkers,
      schedule: runsWorkers,
    })
    boss.on('error', (err) => fastify.log.error({ err }, 'queue error'))

    const definitions = new Map<string, JobDefinition>()
    for (const mod of discoverModules()) {
      if (!mod.jobs) continue
      const factory = await importDefault<ModuleJobs>(mod.jobs)
      for (const job of await factory(fastify)) definitions.set(job.name, job)
    }

    const send: Jobs['send'] = async (name, data, options = {}) => {
      const def = definitions.get(name)
      if (!def) throw new Error(`unknown queue ${name}`)
      if (!Value.Check(def.schema, data)) {
        const first = [...Value.Errors(def.schema, data)][0]
        throw new Error(`invalid payload for ${name}: ${first?.path} ${first?.message}`)
      }
      const { tx, ...rest } = options
      return boss.send(name, data as object, { ...rest, ...(tx ? { db: bossDb(tx) } : {}) })
    }
    fastify.decorate('jobs', { boss, send, definitions })
    if (offline) return

    await boss.start()
    for (const def of definitions.values()) {
      if (def.queue?.deadLetter) await boss.createQueue(def.queue.deadLetter, { name: def.queue.deadLetter })
      await boss.createQueue(def.name, { ...def.queue, name: def.name })
    }

    if (runsWorkers) {
      fastify.addHook('onReady', async () => {
        for (const def of definitions.values()) {
          await boss.work(def.name, { batchSize: def.batchSize ?? 1, pollingIntervalSeconds: def.pollingIntervalSeconds ?? 2 }, async (batch) => {
            // Each job settles on its own; a throw fails (and retries) only that job.
            for (const job of batch) {
              if (!Value.Check(def.schema, job.data)) throw new Error(`invalid payload received on ${def.name}`)
              await def.handler(job.data as Static<typeof def.schema>, { id: job.id, retryCount: 0, log: fastify.log.child({ queue: def.name, jobId: job.id }) })
            }
          })
        }
      })
    }

    fastify.addHook('onClose', async () => {
      // Let running jobs finish within the shutdown bound, then close pg-boss's pool.
      await boss.stop({ graceful: true, wait: true, timeout: config.SHUTDOWN_TIMEOUT_MS })
    })
  },
  { fastify: '5.x', name: 'queue', dependencies: ['config', 'db'] },
)
