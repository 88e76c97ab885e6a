// What a module declares in its jobs.ts: queues with their policy, payload schema and handler
// (and, for event subscribers, the events they receive: see plugins/events.ts).
import type { FastifyInstance } from 'fastify'
import type { Queue } from 'pg-boss'
import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

export interface JobContext {
  id: string
  /** 0 on the first attempt, 1 on the first retry, ... */
  retryCount: number
  retryLimit: number
  /** True when a failure now would not be retried (the job goes to its dead-letter queue, if any). */
  isFinalAttempt: boolean
  log: FastifyInstance['log']
  /**
   * Aborted when the job runs past its queue's `expireInSeconds` (pg-boss then fails it and retries
   * it) or the worker shuts down past its bound. Pass it to fetch() and the like. Absent when a test
   * calls a handler directly.
   */
  signal?: AbortSignal
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
   * Queue policy, as pg-boss's createQueue takes it: retryLimit, retryDelay (s), retryBackoff,
   * retryDelayMax, expireInSeconds (the handler's time bound), deadLetter, policy ('standard',
   * 'singleton', 'stately', 'exclusive', ...), retentionSeconds, deleteAfterSeconds.
   * Defaults: retryLimit 3, retryDelay JOB_RETRY_DELAY_SECONDS, retryBackoff true.
   * A queue's `policy` is fixed when the queue is created.
   */
  queue?: Omit<Queue, 'name'>
  /** Jobs fetched per poll; they run concurrently and each settles (completes/fails) on its own. */
  batchSize?: number
  /** Workers per process, each polling on its own (default 1): one slow batch holds up only its worker. */
  concurrency?: number
  /** At most this many jobs of one group (`NewJob.group`) run at once, across all workers and processes. */
  groupConcurrency?: number
  pollingIntervalSeconds?: number
  /** Run this queue on a cron schedule (the payload is `schedule.data`, default `{}`). */
  schedule?: JobSchedule
  /** An event subscriber: the business events this queue receives ('*': every declared event). Set by onEvent(). */
  events?: readonly string[] | '*'
  // Method syntax on purpose: a JobDefinition<TObject<...>> then fits in a JobDefinition[] list.
  handler(data: Static<S>, ctx: JobContext): Promise<unknown>
}

/** Throw from a handler to fail a job without retrying it (it still goes to its dead-letter queue). */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError'
}

export const defineJob = <S extends TSchema>(job: JobDefinition<S>): JobDefinition<S> => job

/** A module's jobs.ts default-exports this: its jobs, given the app (for db, config, contracts, ...). */
export type ModuleJobs = (app: FastifyInstance) => JobDefinition[] | Promise<JobDefinition[]>

/** Payloads are checked when sent and again when received (a job may outlive a deploy). */
export function assertPayload(def: JobDefinition, data: unknown): void {
  if (Value.Check(def.schema, data)) return
  const first = [...Value.Errors(def.schema, data)][0]
  throw new Error(`invalid payload for ${def.name}: ${first?.path || '/'} ${first?.message}`)
}
