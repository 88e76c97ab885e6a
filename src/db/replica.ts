// Reads on a streaming replica (DATABASE_READ_URL), and when they go to the primary instead:
// - read-your-writes: a request marked by `readFromPrimary()` (its caller wrote within
//   DB_READ_YOUR_WRITES_SECONDS, plugins/replica.ts) reads the primary for every query;
// - the replica down (its check fails: refused, or PgBouncer's own error when the server behind it
//   is stopped) or behind by more than DB_REPLICA_MAX_LAG_SECONDS: every read goes to the primary
//   until a check finds it back.
// - a read that fails on the replica because it is gone (a connection error, PgBouncer's 08P01,
//   the replica's breaker open) runs again on the primary, and the replica counts as down until
//   the next check finds it back: a stopped replica costs no request.
// The lag is checked every DB_REPLICA_CHECK_INTERVAL_MS on the replica (one cheap query), not per read.
import { AsyncLocalStorage } from 'node:async_hooks'
import type postgres from 'postgres'
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import { DatabaseUnavailableError, isConnectionError } from './guard.js'

type Db = PostgresJsDatabase

const routing = new AsyncLocalStorage<{ primary: boolean }>()

/** Run `fn` (a request) with its own read routing; `readFromPrimary()` inside it sends its reads to the primary. */
export const withReadRouting = <T>(fn: () => T): T => routing.run({ primary: false }, fn)

/** The rest of this request reads the primary (its caller has just written). */
export function readFromPrimary(): void {
  const store = routing.getStore()
  if (store) store.primary = true
}

export interface ReplicaState {
  /** False while the replica's check fails: reads go to the primary. */
  up: boolean
  /** Seconds the replica's replay is behind the primary at the last check (0 when caught up); null before the first. */
  lagSeconds: number | null
  /** Whether reads go to the replica now. */
  serving: boolean
}

export interface ReplicaOptions {
  maxLagSeconds: number
  checkIntervalMs: number
  checkTimeoutMs: number
  onChange?: (state: ReplicaState, err?: Error) => void
}

// 0 while everything received is replayed (an idle primary sends nothing, so the last replayed
// transaction's age would grow for no reason), else the age of the last transaction replayed.
const LAG_QUERY = `select case when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
  else coalesce(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0) end::float8 as lag`

/** True for an error that says the replica is gone rather than that the query failed. */
const replicaGone = (err: unknown) => err instanceof DatabaseUnavailableError || isConnectionError(err)

type Unsafe = postgres.Sql['unsafe']

/**
 * The replica's pool as Drizzle sees it, except that a read it cannot answer because it is gone
 * runs on the primary instead (reads only: running one twice changes nothing). Drizzle runs every
 * query through `unsafe(text, params, options)`, awaited or with `.values()`.
 */
function withFallback(replicaSql: postgres.Sql, primarySql: postgres.Sql, onGone: (err: Error) => void): postgres.Sql {
  const unsafe = (text: string, params?: unknown[], options?: Parameters<Unsafe>[2]) => {
    const run = async (values: boolean): Promise<unknown> => {
      const on = (sql: postgres.Sql) => {
        const query = sql.unsafe(text, params as never, options)
        return values ? query.values() : query
      }
      try {
        return await on(replicaSql)
      } catch (err) {
        if (!replicaGone(err)) throw err
        onGone(err as Error)
        return await on(primarySql)
      }
    }
    return { then: (ok: never, fail: never) => run(false).then(ok, fail), values: () => run(true) }
  }
  return new Proxy(replicaSql, { get: (target, prop) => (prop === 'unsafe' ? unsafe : Reflect.get(target, prop, target)) })
}

export function createReplicaRouting(primary: Db, primarySql: postgres.Sql, replicaSql: postgres.Sql, opts: ReplicaOptions) {
  const state: ReplicaState = { up: true, lagSeconds: null, serving: true }
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const update = (up: boolean, lagSeconds: number | null, err?: Error) => {
    const serving = up && (lagSeconds === null || lagSeconds <= opts.maxLagSeconds)
    const changed = serving !== state.serving || up !== state.up
    state.up = up
    if (lagSeconds !== null) state.lagSeconds = lagSeconds
    state.serving = serving
    if (changed) opts.onChange?.({ ...state }, err)
  }

  /** One check of the replica: its lag, or down when it does not answer in time. */
  async function check(): Promise<void> {
    let t: NodeJS.Timeout | undefined
    try {
      const rows = await Promise.race([
        replicaSql.unsafe(LAG_QUERY),
        new Promise<never>((_, reject) => {
          t = setTimeout(() => reject(new Error('replica check timed out')), opts.checkTimeoutMs)
        }),
      ])
      update(true, Number((rows[0] as unknown as { lag: number }).lag))
    } catch (err) {
      update(false, null, err as Error)
    } finally {
      clearTimeout(t)
    }
  }

  const loop = async () => {
    await check()
    if (!stopped) timer = setTimeout(() => void loop(), opts.checkIntervalMs)
  }

  const replica: Db = drizzle(
    withFallback(replicaSql, primarySql, (err) => update(false, null, err)),
    { casing: 'snake_case' },
  )

  const choose = (): Db => (routing.getStore()?.primary || !state.serving ? primary : replica)

  /** The read handle: each query goes to the replica or the primary, chosen when it is built. */
  const read = new Proxy(replica, {
    get(_target, prop) {
      const db = choose()
      const value = Reflect.get(db, prop, db) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(db) : value
    },
  })

  return {
    read,
    check,
    state: (): ReplicaState => ({ ...state }),
    start() {
      if (timer || stopped) return
      void loop()
    },
    stop() {
      stopped = true
      clearTimeout(timer)
    },
  }
}

export type ReplicaRouting = ReturnType<typeof createReplicaRouting>
