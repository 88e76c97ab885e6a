// Enqueueing inside the caller's transaction: pg-boss's `db` option bound to a Drizzle or postgres.js
// transaction, so a job commits or rolls back with the rows it follows.
import type PgBoss from 'pg-boss'
import type postgres from 'postgres'
import type { DbOrTx } from '../../src/db/client.js'

/** A transaction to enqueue in: a Drizzle transaction or a postgres.js one (`sql.begin`). */
export type QueueTx = DbOrTx | postgres.TransactionSql

/** The postgres.js handle behind a Drizzle transaction (or the postgres.js transaction itself). */
function rawSql(tx: QueueTx): postgres.Sql | postgres.TransactionSql {
  if (typeof tx === 'function') return tx
  const client = (tx as unknown as { session?: { client?: postgres.Sql } }).session?.client
  if (typeof client?.unsafe !== 'function') throw new Error('expected a Drizzle (postgres-js) or postgres.js transaction')
  return client
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
