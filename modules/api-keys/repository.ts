// The only code touching the api_keys table; explicit columns.
import { count, desc, eq, or, sql } from 'drizzle-orm'
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
  previousValidUntil: apiKeys.previousValidUntil,
  lastUsedAt: apiKeys.lastUsedAt,
  createdAt: apiKeys.createdAt,
  rotatedAt: apiKeys.rotatedAt,
}
const sortColumns = { createdAt: apiKeys.createdAt, name: apiKeys.name, lastUsedAt: apiKeys.lastUsedAt, expiresAt: apiKeys.expiresAt }

export type ApiKeyRow = { [K in keyof typeof columns]: (typeof apiKeys.$inferSelect)[K] }
export type NewApiKeyRow = Pick<
  typeof apiKeys.$inferInsert,
  'id' | 'ownerId' | 'name' | 'prefix' | 'secretHash' | 'scopes' | 'expiresAt' | 'rateLimitMax' | 'rateLimitWindowSeconds'
>
export interface Rotation {
  prefix: string
  secretHash: string
  /** Until when the current key keeps working; null retires it at once. */
  previousValidUntil: Date | null
  rotatedAt: Date
}

export function createApiKeysRepository(db: DbOrTx) {
  return {
    async insert(values: NewApiKeyRow): Promise<ApiKeyRow> {
      const [row] = await db.insert(apiKeys).values(values).returning(columns)
      return row!
    },

    async findById(id: string): Promise<ApiKeyRow | undefined> {
      const [row] = await db.select(columns).from(apiKeys).where(eq(apiKeys.id, id))
      return row
    },

    /** The row whose current or previous prefix is this one, with the hashes to compare. */
    async findByPrefix(prefix: string) {
      const [row] = await db
        .select({
          ...columns,
          secretHash: apiKeys.secretHash,
          previousPrefix: apiKeys.previousPrefix,
          previousSecretHash: apiKeys.previousSecretHash,
        })
        .from(apiKeys)
        .where(or(eq(apiKeys.prefix, prefix), eq(apiKeys.previousPrefix, prefix)))
        .orderBy(desc(apiKeys.createdAt))
        .limit(1)
      return row
    },

    async listByOwner(ownerId: string, list: ParsedList): Promise<ApiKeyRow[]> {
      return db
        .select(columns)
        .from(apiKeys)
        .where(eq(apiKeys.ownerId, ownerId))
        .orderBy(...orderBy(list.sort, sortColumns, apiKeys.id))
        .limit(list.limit)
        .offset(list.offset)
    },

    async countByOwner(ownerId: string): Promise<number> {
      const [row] = await db.select({ n: count() }).from(apiKeys).where(eq(apiKeys.ownerId, ownerId))
      return row?.n ?? 0
    },

    /** The current prefix and hash become the previous ones (right-hand sides read the old row). */
    async rotate(id: string, { prefix, secretHash, previousValidUntil, rotatedAt }: Rotation): Promise<ApiKeyRow | undefined> {
      const keep = previousValidUntil !== null
      const [row] = await db
        .update(apiKeys)
        .set({
          prefix,
          secretHash,
          previousPrefix: keep ? sql`${apiKeys.prefix}` : null,
          previousSecretHash: keep ? sql`${apiKeys.secretHash}` : null,
          previousValidUntil,
          rotatedAt,
        })
        .where(eq(apiKeys.id, id))
        .returning(columns)
      return row
    },

    async touchLastUsed(id: string, at: Date): Promise<void> {
      await db
        .update(apiKeys)
        .set({ lastUsedAt: sql`greatest(${apiKeys.lastUsedAt}, ${at.toISOString()}::timestamptz)` })
        .where(eq(apiKeys.id, id))
    },

    async delete(id: string): Promise<boolean> {
      const rows = await db.delete(apiKeys).where(eq(apiKeys.id, id)).returning({ id: apiKeys.id })
      return rows.length > 0
    },
  }
}

export type ApiKeysRepository = ReturnType<typeof createApiKeysRepository>
