// Enqueueing inside the caller's transaction: pg-boss's `db` option bound to a Drizzle or postgres.js
// transaction, so a job commits or rolls back with the rows it follows. Both through public API:
// pg-boss's own Drizzle adapter (fromDrizzle, which runs tx.execute) and postgres.js's sql.unsafe.
import { sql as drizzleSql } from 'drizzle-orm'
import { fromDrizzle, type Db } from 'pg-boss'
import type postgres from 'postgres'
import type { DbOrTx } from '../../src/db/client.js'

/** A transaction to enqueue in: a Drizzle transaction or a postgres.js one (`sql.begin`). */
export type QueueTx = DbOrTx | postgres.TransactionSql

/** pg-boss's `db` option bound to a transaction: what it writes commits or rolls back with it. */
export const bossDb = (tx: QueueTx): Db => {
  // A postgres.js handle is a tagged-template function; a Drizzle one is an object with execute().
  if (typeof tx === 'function') {
    return { executeSql: async (text, values) => ({ rows: await tx.unsafe(text, (values ?? []) as postgres.ParameterOrJSON<never>[]) }) }
  }
  return fromDrizzle(tx, drizzleSql)
}
