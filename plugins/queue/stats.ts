// Job counts by queue and state, read from pg-boss's job table at scrape time (/metrics), not on the
// hot path. (pg-boss documents its job table for SQL use; getQueues() has counts too, but from a cache
// refreshed once a minute and without retry, completed and cancelled apart.)
import type { PgBoss } from 'pg-boss'

export const JOB_STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'] as const
export type JobState = (typeof JOB_STATES)[number]
export type QueueStats = Record<string, Record<JobState, number>>

/** Counts for every named queue, zeros included. */
export async function queueStats(boss: PgBoss, schema: string, names: Set<string>): Promise<QueueStats> {
  const out: QueueStats = {}
  for (const name of names) out[name] = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>
  if (names.size === 0) return out
  const { rows } = await boss
    .getDb()
    .executeSql(`SELECT name, state::text AS state, count(*)::int AS count FROM ${schema}.job WHERE name = ANY($1::text[]) GROUP BY 1, 2`, [
      [...names],
    ])
  for (const row of rows as { name: string; state: JobState; count: number }[]) {
    const queue = out[row.name]
    if (queue) queue[row.state] = row.count
  }
  return out
}

/**
 * Queue lag: for each queue, how long its oldest job that is ready to run (created or waiting to be
 * retried, its start time passed) has waited since that start time. Queues with none are absent.
 */
export async function queueLag(boss: PgBoss, schema: string, names: Set<string>): Promise<Record<string, number>> {
  if (names.size === 0) return {}
  const { rows } = await boss.getDb().executeSql(
    `SELECT name, extract(epoch FROM now() - min(start_after))::float8 AS lag FROM ${schema}.job
     WHERE name = ANY($1::text[]) AND state IN ('created', 'retry') AND start_after <= now() GROUP BY 1`,
    [[...names]],
  )
  return Object.fromEntries((rows as { name: string; lag: number }[]).map((r) => [r.name, Math.max(0, r.lag)]))
}
