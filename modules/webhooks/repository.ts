// Webhooks: the only code that touches webhook_subscriptions and webhook_deliveries. Explicit
// columns; every function takes the Drizzle handle to use (the pool, the read replica or a
// transaction), so transactions pass through.
import { and, arrayContains, count, eq, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { keysetWhere, orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { webhookDeliveries, webhookSubscriptions } from './tables.js'
import type { DeliveryFilters, WebhookFilters } from './schemas.js'

export const webhookColumns = {
  id: webhookSubscriptions.id,
  ownerId: webhookSubscriptions.ownerId,
  url: webhookSubscriptions.url,
  events: webhookSubscriptions.events,
  version: webhookSubscriptions.version,
  createdAt: webhookSubscriptions.createdAt,
}
/** A subscription as the API may show it: everything but the secret. */
export type WebhookRow = Omit<typeof webhookSubscriptions.$inferSelect, 'secret'>

export const deliveryColumns = {
  id: webhookDeliveries.id,
  webhookId: webhookDeliveries.webhookId,
  eventId: webhookDeliveries.eventId,
  event: webhookDeliveries.event,
  payload: webhookDeliveries.payload,
  status: webhookDeliveries.status,
  attempts: webhookDeliveries.attempts,
  lastStatusCode: webhookDeliveries.lastStatusCode,
  lastError: webhookDeliveries.lastError,
  requestId: webhookDeliveries.requestId,
  replayOf: webhookDeliveries.replayOf,
  nextAttemptAt: webhookDeliveries.nextAttemptAt,
  version: webhookDeliveries.version,
  createdAt: webhookDeliveries.createdAt,
  updatedAt: webhookDeliveries.updatedAt,
}
export type DeliveryRow = typeof webhookDeliveries.$inferSelect
export type NewDelivery = Pick<
  typeof webhookDeliveries.$inferInsert,
  'id' | 'webhookId' | 'eventId' | 'event' | 'payload' | 'requestId' | 'replayOf'
>

/** The outcome of one attempt, written with the attempt counter. */
export interface AttemptOutcome {
  status: DeliveryRow['status']
  statusCode: number | null
  error: string | null
  nextAttemptAt: Date | null
}

const webhookWhere = (ownerId: string | undefined, f: WebhookFilters): SQL | undefined =>
  and(
    ownerId ? eq(webhookSubscriptions.ownerId, ownerId) : undefined,
    f.event ? arrayContains(webhookSubscriptions.events, [f.event]) : undefined,
  )

const deliveryWhere = (webhookId: string, f: DeliveryFilters): SQL | undefined =>
  and(
    eq(webhookDeliveries.webhookId, webhookId),
    f.status ? eq(webhookDeliveries.status, f.status) : undefined,
    f.event ? eq(webhookDeliveries.event, f.event) : undefined,
  )

// Subscriptions per owner are capped: creations by one owner take turns (a transaction-scoped
// advisory lock keyed by this table and the owner), so two at once cannot both pass the check.
const OWNER_LOCK = sql`hashtext('webhook_subscriptions')`

export function createWebhookRepository() {
  return {
    async insert(db: DbOrTx, values: { id: string; ownerId: string; url: string; events: string[]; secret: string }): Promise<WebhookRow> {
      const [row] = await db.insert(webhookSubscriptions).values(values).returning(webhookColumns)
      return row!
    },

    async findById(db: DbOrTx, id: string): Promise<WebhookRow | undefined> {
      const [row] = await db.select(webhookColumns).from(webhookSubscriptions).where(eq(webhookSubscriptions.id, id))
      return row
    },

    /** Inside a transaction: wait for the owner's other subscription writes, then count its subscriptions. */
    async lockAndCountOwned(tx: DbOrTx, ownerId: string): Promise<number> {
      await tx.execute(sql`select pg_advisory_xact_lock(${OWNER_LOCK}, hashtext(${ownerId}))`)
      const [row] = await tx.select({ n: count() }).from(webhookSubscriptions).where(eq(webhookSubscriptions.ownerId, ownerId))
      return row?.n ?? 0
    },

    async delete(db: DbOrTx, id: string): Promise<boolean> {
      const rows = await db.delete(webhookSubscriptions).where(eq(webhookSubscriptions.id, id)).returning({ id: webhookSubscriptions.id })
      return rows.length > 0
    },

    /** Every subscription of a user (its deliveries go with them); how many there were. */
    async deleteByOwner(db: DbOrTx, ownerId: string): Promise<number> {
      const rows = await db
        .delete(webhookSubscriptions)
        .where(eq(webhookSubscriptions.ownerId, ownerId))
        .returning({ id: webhookSubscriptions.id })
      return rows.length
    },

    /** One page plus one row (to tell whether a next page exists); `ownerId` undefined: everybody's. */
    async list(db: DbOrTx, ownerId: string | undefined, filters: WebhookFilters, list: ParsedList): Promise<WebhookRow[]> {
      return db
        .select(webhookColumns)
        .from(webhookSubscriptions)
        .where(webhookWhere(ownerId, filters))
        .orderBy(...orderBy(list.sort, webhookColumns, webhookSubscriptions.id))
        .limit(list.limit + 1)
        .offset(list.offset)
    },

    async count(db: DbOrTx, ownerId: string | undefined, filters: WebhookFilters): Promise<number> {
      const [row] = await db.select({ n: count() }).from(webhookSubscriptions).where(webhookWhere(ownerId, filters))
      return row?.n ?? 0
    },

    /** The subscriptions that asked for this event type, with their owners (whose audience is checked next). */
    async subscribedTo(db: DbOrTx, event: string): Promise<{ id: string; ownerId: string }[]> {
      return db
        .select({ id: webhookSubscriptions.id, ownerId: webhookSubscriptions.ownerId })
        .from(webhookSubscriptions)
        .where(arrayContains(webhookSubscriptions.events, [event]))
    },

    /** Insert deliveries, skipping any event already delivered to that subscription; the ids inserted. */
    async insertDeliveries(db: DbOrTx, rows: NewDelivery[]): Promise<string[]> {
      if (rows.length === 0) return []
      const inserted = await db.insert(webhookDeliveries).values(rows).onConflictDoNothing().returning({ id: webhookDeliveries.id })
      return inserted.map((r) => r.id)
    },

    async findDelivery(db: DbOrTx, webhookId: string, id: string): Promise<DeliveryRow | undefined> {
      const [row] = await db
        .select(deliveryColumns)
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.id, id)))
      return row
    },

    /** One page plus one row; offset or keyset (cursor) pages. */
    async listDeliveries(db: DbOrTx, webhookId: string, filters: DeliveryFilters, list: ParsedList): Promise<DeliveryRow[]> {
      return db
        .select(deliveryColumns)
        .from(webhookDeliveries)
        .where(and(deliveryWhere(webhookId, filters), keysetWhere(list, deliveryColumns, webhookDeliveries.id)))
        .orderBy(...orderBy(list.sort, deliveryColumns, webhookDeliveries.id))
        .limit(list.limit + 1)
        .offset(list.offset)
    },

    async countDeliveries(db: DbOrTx, webhookId: string, filters: DeliveryFilters): Promise<number> {
      const [row] = await db.select({ n: count() }).from(webhookDeliveries).where(deliveryWhere(webhookId, filters))
      return row?.n ?? 0
    },

    /** What the worker needs for one attempt: the delivery, and its subscription's owner, target and secret. */
    async findForAttempt(db: DbOrTx, id: string) {
      const [row] = await db
        .select({
          id: webhookDeliveries.id,
          event: webhookDeliveries.event,
          payload: webhookDeliveries.payload,
          status: webhookDeliveries.status,
          attempts: webhookDeliveries.attempts,
          requestId: webhookDeliveries.requestId,
          ownerId: webhookSubscriptions.ownerId,
          url: webhookSubscriptions.url,
          secret: webhookSubscriptions.secret,
        })
        .from(webhookDeliveries)
        .innerJoin(webhookSubscriptions, eq(webhookSubscriptions.id, webhookDeliveries.webhookId))
        .where(eq(webhookDeliveries.id, id))
      return row
    },

    /** Record one attempt (the counter goes up by one) and its outcome; like every change of a delivery, it bumps the version. */
    async recordAttempt(db: DbOrTx, id: string, outcome: AttemptOutcome): Promise<void> {
      await db
        .update(webhookDeliveries)
        .set({
          attempts: sql`${webhookDeliveries.attempts} + 1`,
          status: outcome.status,
          lastStatusCode: outcome.statusCode,
          lastError: outcome.error ? outcome.error.slice(0, 2000) : null,
          nextAttemptAt: outcome.nextAttemptAt,
          version: sql`${webhookDeliveries.version} + 1`,
          updatedAt: sql`now()`,
        })
        .where(eq(webhookDeliveries.id, id))
    },

    /** Fail a pending delivery without sending it (nothing was attempted); false when it was no longer pending. */
    async refuse(db: DbOrTx, id: string, reason: string): Promise<boolean> {
      const rows = await db
        .update(webhookDeliveries)
        .set({
          status: 'failed',
          lastError: reason,
          nextAttemptAt: null,
          version: sql`${webhookDeliveries.version} + 1`,
          updatedAt: sql`now()`,
        })
        .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, 'pending')))
        .returning({ id: webhookDeliveries.id })
      return rows.length > 0
    },

    /** Dead-lettered: out of attempts (or the job expired). Only a delivery still pending changes. */
    async markDeadIfPending(db: DbOrTx, id: string): Promise<boolean> {
      const rows = await db
        .update(webhookDeliveries)
        .set({
          status: 'dead',
          nextAttemptAt: null,
          version: sql`${webhookDeliveries.version} + 1`,
          updatedAt: sql`now()`,
          lastError: sql`coalesce(${webhookDeliveries.lastError}, 'out of attempts')`,
        })
        .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, 'pending')))
        .returning({ id: webhookDeliveries.id })
      return rows.length > 0
    },
  }
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>
