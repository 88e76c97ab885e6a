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
