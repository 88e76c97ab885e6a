// The PostgreSQL pool (postgres.js) and its Drizzle handle, configured from Config, behind a guard
// that fails fast while the database is down or hung (see guard.ts).
import postgres from 'postgres'
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { Config } from '../lib/config.js'
import { createGuard, type Guard } from './guard.js'
import { traceQuery } from './tracing.js'
import { createReplicaRouting, type ReplicaRouting, type ReplicaState } from './replica.js'

export type Db = PostgresJsDatabase
/** A Drizzle handle inside `db.transaction(async (tx) => ...)`; repositories accept either. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
export type DbOrTx = Db | Tx

export interface Database {
  sql: postgres.Sql
  db: Db
  /** Read-only handle (a replica when DATABASE_READ_URL is set, else the primary). */
  read: Db
  /** The primary's guard (breaker, waits); the replica has its own. */
  guard: Guard
  readGuard?: Guard
  /** The replica's routing and state (DATABASE_READ_URL set): reads go to the primary while it is down or too far behind. */
  replica?: ReplicaRouting
  close: (timeoutSeconds?: number) => Promise<void>
}

export type PoolConfig = Pick<
  Config,
  | 'DB_POOL_MAX'
  | 'DB_IDLE_TIMEOUT_S'
  | 'DB_CONNECT_TIMEOUT_S'
  | 'DB_MAX_LIFETIME_S'
  | 'DB_STATEMENT_TIMEOUT_MS'
  | 'DB_STALL_MS'
  | 'DB_ACQUIRE_TIMEOUT_MS'
  | 'DB_PROBE_TIMEOUT_MS'
  | 'DB_PROBE_INTERVAL_MS'
  | 'DB_RECONNECT_MAX_MS'
  | 'DB_PREPARE'
>

export interface PoolEvents {
  /** The breaker opened: the database is known down (which: 'primary' or 'replica'). */
  onDown?: (which: 'primary' | 'replica', err: Error) => void
  onUp?: (which: 'primary' | 'replica', downForMs: number) => void
  /** Reads moved to the primary (the replica down or too far behind), or back to the replica. */
  onReplicaChange?: (state: ReplicaState, err?: Error) => void
}

/** A guarded pool: the raw postgres.js pool wrapped by its guard. */
export function createPool(url: string, config: PoolConfig, which: 'primary' | 'replica' = 'primary', events: PoolEvents = {}) {
  const guard = createGuard({
    url,
    max: config.DB_POOL_MAX,
    stallMs: config.DB_STALL_MS,
    acquireTimeoutMs: config.DB_ACQUIRE_TIMEOUT_MS,
    probeTimeoutMs: config.DB_PROBE_TIMEOUT_MS,
    probeIntervalMs: config.DB_PROBE_INTERVAL_MS,
    reconnectMaxMs: config.DB_RECONNECT_MAX_MS,
    prepare: config.DB_PREPARE,
    onDown: (err) => events.onDown?.(which, err),
    onUp: (ms) => events.onUp?.(which, ms),
  })
  const sql = postgres(url, {
    max: config.DB_POOL_MAX,
    idle_timeout: config.DB_IDLE_TIMEOUT_S,
    connect_timeout: config.DB_CONNECT_TIMEOUT_S,
    max_lifetime: config.DB_MAX_LIFETIME_S || null,
    connection: {
      application_name: 'keel',
      ...(config.DB_STATEMENT_TIMEOUT_MS > 0 ? { statement_timeout: config.DB_STATEMENT_TIMEOUT_MS } : {}),
    },
    onnotice: () => {},
    // Off: every statement unnamed (postgres.js's tagged templates too), so a pooler may hand each
    // query to another server connection. On: see preparedStatements.
    prepare: config.DB_PREPARE,
    ...(guard.poolOptions as Pick<postgres.Options<Record<string, never>>, 'backoff' | 'onclose'>),
  })
  const guarded = guard.wrap(sql)
  return { sql: config.DB_PREPARE ? preparedStatements(guarded, new URL(url)) : guarded, guard }
}

type Unsafe = postgres.Sql['unsafe']
type Options = Parameters<Unsafe>[2] & { onexecute?: unknown }
type Scope = { unsafe: Unsafe; savepoint?: (...args: unknown[]) => Promise<unknown> }

/**
 * Every Drizzle query as a prepared statement, like postgres.js's own tagged templates. Drizzle
 * runs its queries through `sql.unsafe(text, params, { prepare: false })` (prepared only when named
 * with `.prepare()`), so PostgreSQL parsed and planned each one again: reading a product by id ran
 * at about half the rate of the same select prepared. postgres.js keeps one statement per query
 * text on each connection (a migration that changes a table makes it re-prepare, by itself).
 * Applied to the pool and to each transaction's and savepoint's scope, which have their own `unsafe`.
 * Not applied with DB_PREPARE=false (the pool's `prepare: false` then wins over any query's own).
 */
function preparedStatements<T extends Scope>(sql: T, server: URL): T {
  const unsafe = sql.unsafe
  sql.unsafe = ((text: string, params?: unknown[], options?: Options) =>
    // (The BEGIN that postgres.js sends for a transaction carries `onexecute`: left as it is.)
    // Also the one place every Drizzle query passes: its span (tracing.ts), when tracing is on.
    traceQuery(unsafe(text, params as never, options?.onexecute ? options : { ...options, prepare: true }), text, server)) as Unsafe
  const { begin, savepoint } = sql as Partial<postgres.Sql> & Scope
  const inScope = (args: unknown[]) => {
    const i = args.length - 1
    const fn = args[i] as (scope: Scope) => unknown
    args[i] = (scope: Scope) => fn(preparedStatements(scope, server))
    return args
  }
  if (begin) Object.assign(sql, { begin: (...args: unknown[]) => (begin as (...a: unknown[]) => unknown)(...inScope(args)) })
  if (savepoint) sql.savepoint = (...args: unknown[]) => savepoint(...inScope(args))
  return sql
}

/** The URL for what needs a session of its own (migrations and their advisory lock, pg-boss): DATABASE_DIRECT_URL, else DATABASE_URL. */
export const sessionUrl = (config: Pick<Config, 'DATABASE_URL' | 'DATABASE_DIRECT_URL'>): string | undefined =>
  config.DATABASE_DIRECT_URL ?? config.DATABASE_URL

export function createDatabase(
  url: string,
  config: PoolConfig & Pick<Config, 'DATABASE_READ_URL' | 'DB_REPLICA_MAX_LAG_SECONDS' | 'DB_REPLICA_CHECK_INTERVAL_MS'>,
  events: PoolEvents = {},
): Database {
  const primary = createPool(url, config, 'primary', events)
  const db = drizzle(primary.sql, { casing: 'snake_case' })
  const replica = config.DATABASE_READ_URL ? createPool(config.DATABASE_READ_URL, config, 'replica', events) : undefined
  const routing = replica
    ? createReplicaRouting(db, primary.sql, replica.sql, {
        maxLagSeconds: config.DB_REPLICA_MAX_LAG_SECONDS,
        checkIntervalMs: config.DB_REPLICA_CHECK_INTERVAL_MS,
        checkTimeoutMs: config.DB_PROBE_TIMEOUT_MS,
        onChange: events.onReplicaChange,
      })
    : undefined
  return {
    sql: primary.sql,
    db,
    read: routing?.read ?? db,
    guard: primary.guard,
    readGuard: replica?.guard,
    replica: routing,
    async close(timeout = 5) {
      routing?.stop()
      // A database known down gets no grace: its connections are cut at once.
      const end = (pool: { sql: postgres.Sql; guard: Guard }) =>
        Promise.all([pool.guard.stop(), pool.sql.end({ timeout: pool.guard.breaker.isOpen ? 0 : timeout })])
      await Promise.all([end(primary), replica && end(replica)])
    },
  }
}
