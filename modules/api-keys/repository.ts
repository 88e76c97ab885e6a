// API keys: the only code that touches the api_keys table. Explicit columns; every function takes
// the Drizzle handle to use (the pool or a transaction), so transactions pass through.
import { and, count, desc, eq, isNull, lt, or, sql } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { apiKeys } from './tables.js'

const columns = {
  id: apiKeys.id,
  ownerId: apiKeys.ownerId,
  name: apiKeys.name,
  prefix: apiKeys.prefix,
  scopes: apiKeys.scopes,
  expiresAt: apiKeys.expiresAt,
  rateLimitMax: apiKeys.rateLimitMax,
  rateLimitWindowSeconds: apiKeys.rateLimitWindowSeconds,
  previousPrefix: apiKeys.previousPrefix,
  previousValidUntil: apiKeys.previousValidUntil,
  lastUsedAt: apiKeys.lastUsedAt,
  version: apiKeys.version,
  createdAt: apiKeys.createdAt,
  rotatedAt: apiKeys.rotatedAt,
}

export type ApiKeyRow = { [K in keyof typeof columns]: (typeof apiKeys.$inferSelect)[K] }
export type NewApiKeyRow = Pick<
  typeof apiKeys.$inferInsert,
  'id' | 'ownerId' | 'name' | 'prefix' | 'secretHash' | 'scopes' | 'expiresAt' | 'rateLimitMax' | 'rateLimitWindowSeconds'
>

/** A new secret for a key, and what it is re-issued with (never more than the rotating credential may grant). */
export interface Rotation {
  prefix: string
  secretHash: string
  /** Until when the current key keeps working; null retires it at once. */
  previousValidUntil: Date | null
  rotatedAt: Date
  scopes: string[]
  expiresAt: Date | null
  rateLimitMax: number | null
  rateLimitWindowSeconds: number | null
}

export function createApiKeyRepository() {
  return {
    async insert(db: DbOrTx, values: NewApiKeyRow): Promise<ApiKeyRow> {
      const [row] = await db.insert(apiKeys).values(values).returning(columns)
      return row!
    },

    async findById(db: DbOrTx, id: string): Promise<ApiKeyRow | undefined> {
      const [row] = await db.select(columns).from(apiKeys).where(eq(apiKeys.id, id))
      return row
    },

    /** The row whose current or previous prefix is this one, with the hashes to compare. */
    async findByPrefix(db: DbOrTx, prefix: string) {
      const [row] = await db
        .select({ ...columns, secretHash: apiKeys.secretHash, previousSecretHash: apiKeys.previousSecretHash })
        .from(apiKeys)
        .where(or(eq(apiKeys.prefix, prefix), eq(apiKeys.previousPrefix, prefix)))
        .orderBy(desc(apiKeys.createdAt))
        .limit(1)
      return row
    },

    /** One page plus one row (to tell whether a next page exists). */
    async listByOwner(db: DbOrTx, ownerId: string, list: ParsedList): Promise<ApiKeyRow[]> {
      return db
        .select(columns)
        .from(apiKeys)
        .where(eq(apiKeys.ownerId, ownerId))
        .orderBy(...orderBy(list.sort, columns, apiKeys.id))
        .limit(list.limit + 1)
        .offset(list.offset)
    },

    async countByOwner(db: DbOrTx, ownerId: string): Promise<number> {
      const [row] = await db.select({ n: count() }).from(apiKeys).where(eq(apiKeys.ownerId, ownerId))
      return row?.n ?? 0
    },

    /**
     * Serialise key creation per owner until the transaction ends, so a count-then-insert cannot be
     * raced past the per-user cap by concurrent requests.
     */
    async lockOwner(tx: DbOrTx, ownerId: string): Promise<void> {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`api_keys:${ownerId}`}, 0))`)
    },

    /** The current prefix and hash become the previous ones (right-hand sides read the old row). */
    async rotate(db: DbOrTx, id: string, { previousValidUntil, ...values }: Rotation): Promise<ApiKeyRow | undefined> {
      const keep = previousValidUntil !== null
      const [row] = await db
        .update(apiKeys)
        .set({
          ...values,
          previousPrefix: keep ? sql`${apiKeys.prefix}` : null,
          previousSecretHash: keep ? sql`${apiKeys.secretHash}` : null,
          previousValidUntil,
          version: sql`${apiKeys.version} + 1`,
        })
        .where(eq(apiKeys.id, id))
        .returning(columns)
      return row
    },

    /** Move lastUsedAt forward (never back: another instance may have written a later use), bumping the version when it moves. */
    async touchLastUsed(db: DbOrTx, id: string, at: Date): Promise<void> {
      await db
        .update(apiKeys)
        .set({ lastUsedAt: at, version: sql`${apiKeys.version} + 1` })
        .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, at))))
    },

    async delete(db: DbOrTx, id: string): Promise<boolean> {
      const rows = await db.delete(apiKeys).where(eq(apiKeys.id, id)).returning({ id: apiKeys.id })
      return rows.length > 0
    },

    /** Every key of a user (the user is gone): the prefixes they were found by. */
    async deleteByOwner(db: DbOrTx, ownerId: string): Promise<Pick<ApiKeyRow, 'prefix' | 'previousPrefix'>[]> {
      return db
        .delete(apiKeys)
        .where(eq(apiKeys.ownerId, ownerId))
        .returning({ prefix: apiKeys.prefix, previousPrefix: apiKeys.previousPrefix })
    },
  }
}

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>
