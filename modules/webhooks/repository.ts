// Webhooks: the only code that touches webhook_subscriptions and webhook_deliveries. Explicit
// columns; every function takes the Drizzle handle to use (the pool, the read replica or a
// transaction), so transactions pass through.
import { and, arrayContains, asc, count, eq, inArray, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { newId } from '../../src/lib/ids.js'
import { keysetWhere, orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { webhookDeliveries, webhookDeliveryAttempts, webhookSubscriptions } from './tables.js'
import type { DeliveryFilters, WebhookFilters } from './schemas.js'

export const webhookColumns = {
  id: webhookSubscriptions.id,
  ownerId: webhookSubscriptions.ownerId,
  url: webhookSubscriptions.url,
  events: webhookSubscriptions.events,
  active: webhookSubscriptions.active,
  disabledReason: webhookSubscriptions.disabledReason,
  consecutiveFailures: webhookSubscriptions.consecutiveFailures,
  previousSecretExpiresAt: webhookSubscriptions.previousSecretExpiresAt,
  version: webhookSubscriptions.version,
  createdAt: webhookSubscriptions.createdAt,
  updatedAt: webhookSubscriptions.updatedAt,
}
/** A subscription as the API may show it: everything but the secrets. */
export type WebhookRow = Omit<typeof webhookSubscriptions.$inferSelect, 'secret' | 'previousSecret'>
/** What PATCH may change (and what re-enabling resets). */
export type WebhookChanges = Partial<Pick<WebhookRow, 'url' | 'events' | 'active' | 'disabledReason' | 'consecutiveFailures'>>

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
  replayOf: webhookDeliveries.replayOf,
  nextAttemptAt: webhookDeliveries.nextAttemptAt,
  version: webhookDeliveries.version,
  createdAt: webhookDeliveries.createdAt,
  updatedAt: webhookDeliveries.updatedAt,
}
export type DeliveryRow = typeof webhookDeliveries.$inferSelect
export type NewDelivery = Pick<typeof webhookDeliveries.$inferInsert, 'id' | 'webhookId' | 'eventId' | 'event' | 'payload' | 'replayOf'>
export type AttemptRow = typeof webhookDeliveryAttempts.$inferSelect
/** One request sent: recorded with the delivery's outcome. */
export type NewAttempt = Omit<AttemptRow, 'id' | 'deliveryId' | 'attempt'>

/** The outcome of one attempt, written with the attempt counter. */
export interface AttemptOutcome {
  status: DeliveryRow['status']
  statusCode: number | null
  error: string | null
  nextAttemptAt: Date | null
}

export const attemptColumns = {
  attempt: webhookDeliveryAttempts.attempt,
  startedAt: webhookDeliveryAttempts.startedAt,
  durationMs: webhookDeliveryAttempts.durationMs,
  statusCode: webhookDeliveryAttempts.statusCode,
  error: webhookDeliveryAttempts.error,
  responseBody: webhookDeliveryAttempts.responseBody,
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

    /** Write the changes (and bump the version); with `versions` (If-Match) only to one of them. Undefined: gone or stale. */
    async update(db: DbOrTx, id: string, changes: WebhookChanges, versions?: number[]): Promise<WebhookRow | undefined> {
      const [row] = await db
        .update(webhookSubscriptions)
        .set({ ...changes, version: sql`${webhookSubscriptions.version} + 1`, updatedAt: sql`now()` })
        .where(and(eq(webhookSubscriptions.id, id), versions ? inArray(webhookSubscriptions.version, versions) : undefined))
        .returning(webhookColumns)
      return row
    },

    /** A new secret; the current one becomes the previous, still signing until `overlapUntil`. */
    async rotateSecret(db: DbOrTx, id: string, secret: string, overlapUntil: Date, versions?: number[]): Promise<WebhookRow | undefined> {
      const [row] = await db
        .update(webhookSubscriptions)
        .set({
          previousSecret: sql`${webhookSubscriptions.secret}`,
          previousSecretExpiresAt: overlapUntil,
          secret,
          version: sql`${webhookSubscriptions.version} + 1`,
          updatedAt: sql`now()`,
        })
        .where(and(eq(webhookSubscriptions.id, id), versions ? inArray(webhookSubscriptions.version, versions) : undefined))
        .returning(webhookColumns)
      return row
    },

    /** A failed attempt: one more failure in a row; at `disableAfter` the subscription is disabled. True when this disabled it. */
    async countFailure(db: DbOrTx, id: string, disableAfter: number, reason: string): Promise<boolean> {
      const [row] = await db
        .update(webhookSubscriptions)
        .set({ consecutiveFailures: sql`${webhookSubscriptions.consecutiveFailures} + 1` })
        .where(eq(webhookSubscriptions.id, id))
        .returning({ failures: webhookSubscriptions.consecutiveFailures, active: webhookSubscriptions.active })
      if (!row || !row.active || row.failures < disableAfter) return false
      const disabled = await db
        .update(webhookSubscriptions)
        .set({ active: false, disabledReason: reason, version: sql`${webhookSubscriptions.version} + 1`, updatedAt: sql`now()` })
        .where(and(eq(webhookSubscriptions.id, id), eq(webhookSubscriptions.active, true)))
        .returning({ id: webhookSubscriptions.id })
      return disabled.length > 0
    },

    /** A successful attempt ends the run of failures. */
    async resetFailures(db: DbOrTx, id: string): Promise<void> {
      await db
        .update(webhookSubscriptions)
        .set({ consecutiveFailures: 0 })
        .where(and(eq(webhookSubscriptions.id, id), sql`${webhookSubscriptions.consecutiveFailures} > 0`))
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

    /** The active subscriptions that asked for this event type, with their owners (whose audience is checked next). */
    async subscribedTo(db: DbOrTx, event: string): Promise<{ id: string; ownerId: string }[]> {
      return db
        .select({ id: webhookSubscriptions.id, ownerId: webhookSubscriptions.ownerId })
        .from(webhookSubscriptions)
        .where(and(arrayContains(webhookSubscriptions.events, [event]), eq(webhookSubscriptions.active, true)))
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
          webhookId: webhookSubscriptions.id,
          ownerId: webhookSubscriptions.ownerId,
          url: webhookSubscriptions.url,
          active: webhookSubscriptions.active,
          disabledReason: webhookSubscriptions.disabledReason,
          secret: webhookSubscriptions.secret,
          previousSecret: webhookSubscriptions.previousSecret,
          previousSecretExpiresAt: webhookSubscriptions.previousSecretExpiresAt,
        })
        .from(webhookDeliveries)
        .innerJoin(webhookSubscriptions, eq(webhookSubscriptions.id, webhookDeliveries.webhookId))
        .where(eq(webhookDeliveries.id, id))
      return row
    },

    /**
     * Record one attempt: its own row (number `attempt`) and, on the delivery, the counter (up by one)
     * and its outcome; like every change of a delivery, it bumps the version. Pass a transaction.
     */
    async recordAttempt(db: DbOrTx, id: string, attempt: number, sent: NewAttempt, outcome: AttemptOutcome): Promise<void> {
      await db
        .insert(webhookDeliveryAttempts)
        .values({ id: newId(), deliveryId: id, attempt, ...sent, error: sent.error?.slice(0, 2000) ?? null })
        .onConflictDoNothing()
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

    /**
     * Fail a pending delivery without sending it (nothing was attempted); false when it was no longer
     * pending. `dropPayload`: the owner may not receive the event, so its payload is not kept.
     */
    async refuse(db: DbOrTx, id: string, reason: string, dropPayload: boolean): Promise<boolean> {
      const rows = await db
        .update(webhookDeliveries)
        .set({
          ...(dropPayload ? { payload: null } : {}),
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

    /** A delivery's attempts, oldest first. */
    async listAttempts(db: DbOrTx, deliveryId: string): Promise<Omit<AttemptRow, 'id' | 'deliveryId'>[]> {
      return db
        .select(attemptColumns)
        .from(webhookDeliveryAttempts)
        .where(eq(webhookDeliveryAttempts.deliveryId, deliveryId))
        .orderBy(asc(webhookDeliveryAttempts.attempt))
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
