// The PostgreSQL pool (postgres.js) and its Drizzle handle, configured from Config.
import postgres from 'postgres'
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import type { Config } from '../config.js'

export type Db = PostgresJsDatabase
/** A Drizzle handle inside `db.transaction(async (tx) => ...)`; repositories accept either. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
export type DbOrTx = Db | Tx

export interface Database {
  sql: postgres.Sql
  db: Db
  /** Read-only handle (a replica when DATABASE_READ_URL is set, else the primary). */
  read: Db
  close: (timeoutSeconds?: number) => Promise<void>
}

type PoolConfig = Pick<
  Config,
  'DB_POOL_MAX' | 'DB_IDLE_TIMEOUT_S' | 'DB_CONNECT_TIMEOUT_S' | 'DB_MAX_LIFETIME_S' | 'DB_STATEMENT_TIMEOUT_MS'
>

export function createPool(url: string, config: PoolConfig, onnotice?: (notice: postgres.Notice) => void): postgres.Sql {
  return postgres(url, {
    max: config.DB_POOL_MAX,
    idle_timeout: config.DB_IDLE_TIMEOUT_S,
    connect_timeout: config.DB_CONNECT_TIMEOUT_S,
    max_lifetime: config.DB_MAX_LIFETIME_S || null,
    connection: {
      application_name: 'keel',
      ...(config.DB_STATEMENT_TIMEOUT_MS > 0 ? { statement_timeout: config.DB_STATEMENT_TIMEOUT_MS } : {}),
    },
    onnotice: onnotice ?? (() => {}),
  })
}

export function createDatabase(url: string, config: PoolConfig & Pick<Config, 'DATABASE_READ_URL'>): Database {
  const sql = createPool(url, config)
  const db = drizzle(sql, { casing: 'snake_case' })
  const readSql = config.DATABASE_READ_URL ? createPool(config.DATABASE_READ_URL, config) : undefined
  const read = readSql ? drizzle(readSql, { casing: 'snake_case' }) : db
  return {
    sql,
    db,
    read,
    async close(timeout = 5) {
      await Promise.all([sql.end({ timeout }), readSql?.end({ timeout })])
    },
  }
}
