// How many PostgreSQL connections one Keel process may open, by where they go, so that N API
// instances + M workers can be sized against a pooler's or a server's max_connections. The same
// numbers the pools are built with (src/db/client.ts, src/db/guard.ts, plugins/queue/index.ts).
import type { Config } from '../lib/config.js'

export interface ConnectionBudget {
  /** To DATABASE_URL (the pooler, if any): the request pool, and the probe the guard opens while it suspects the database. */
  pooled: number
  /** To DATABASE_READ_URL (the replica): its pool and its probe; 0 without a replica. */
  read: number
  /** To DATABASE_DIRECT_URL (else DATABASE_URL): pg-boss's pool, and the one migration connection at start. */
  direct: number
  total: number
}

/** pg-boss's pool size for a given DB_POOL_MAX (plugins/queue/index.ts builds it with this). */
export const queuePoolMax = (dbPoolMax: number) => Math.max(2, Math.ceil(dbPoolMax / 2))

/** The most connections one process (ROLE=api, worker or all: each has the same pools) opens at once. */
export function connectionBudget(config: Pick<Config, 'DB_POOL_MAX' | 'DATABASE_READ_URL'>): ConnectionBudget {
  const pooled = config.DB_POOL_MAX + 1
  const read = config.DATABASE_READ_URL ? config.DB_POOL_MAX + 1 : 0
  const direct = queuePoolMax(config.DB_POOL_MAX) + 1
  return { pooled, read, direct, total: pooled + read + direct }
}
