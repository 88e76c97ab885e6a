// The only code touching webhook_subscriptions and webhook_deliveries: explicit columns, the
// caller's handle (pool or transaction).
import { and, arrayContains, count, eq, sql, type SQL } from 'drizzle-orm'
import type { DbOrTx } from '../../src/db/client.js'
import { orderBy, type ParsedList } from '../../src/lib/pagination.js'
import { webhookDeliveries, webhookSubscriptions } from './tables.js'
import type { DeliveryFilters, WebhookFilters } from './schemas.js'

const subscriptionColumns = {
  id: webhookSubscriptions.id,
  ownerId: webhookSubscriptions.ownerId,
  url: webhookSubscriptions.url,
  events: webhookSubscriptions.events,
  active: webhookSubscriptions.active,
  createdAt: webhookSubscriptions.createdAt,
}
export type SubscriptionRow = Omit<typeof webhookSubscriptions.$inferSelect, 'secret'>

const deliveryColumns = {
  id: webhookDeliveries.id,
  webhookId: webhookDeliveries.webhookId,
  event: webhookDeliveries.event,
  payload: webhookDeliveries.payload,
  status: webhookDeliveries.status,
  attempts: webhookDeliveries.attempts,
  lastStatusCode: webhookDeliveries.lastStatusCode,
  lastError: webhookDeliveries.lastError,
  requestId: webhookDeliveries.requestId,
  replayOf: webhookDeliveries.replayOf,
  nextAttemptAt: webhookDeliveries.nextAttemptAt,
  createdAt: webhookDeliveries.createdAt,
  updatedAt: webhookDeliveries.updatedAt,
}
export type DeliveryRow = typeof webhookDeliveries.$inferSelect

export interface NewDelivery {
  id: string
  webhookId: string
  event: string
  payload: unknown
  requestId: string | null
  replayOf?: string | null
}

/** The outcome of one attempt, written with the attempt counter. */
export interface AttemptOutcome {
  status: DeliveryRow['status']
  statusCode: number | null
  error: string | null
  nextAttemptAt: Date | null
}

export function createWebhookRepository() {
  return {
    async insertSubscription(
      db: DbOrTx,
      row: { id: string; ownerId: string; url: string; events: string[]; secret: string },
    ): Promise<SubscriptionRow> {
      const [created] = await db.insert(webhookSubscriptions).values(row).returning(subscriptionColumns)
      return created!
    },

    async getSubscription(db: DbOrTx, id: string): Promise<SubscriptionRow | undefined> {
      const [row] = await db.select(subscriptionColumns).from(webhookSubscriptions).where(eq(webhookSubscriptions.id, id))
      return row
    },

    async deleteSubscription(db: DbOrTx, id: string): Promise<boolean> {
      const rows = await db.delete(webhookSubscriptions).where(eq(webhookSubscriptions.id, id)).returning({ id: webhookSubscriptions.id })
      return rows.length > 0
    },

    async listSubscriptions(db: DbOrTx, ownerId: string | undefined, filters: WebhookFilters, list: ParsedList) {
      const where: SQL[] = []
      if (ownerId) where.push(eq(webhookSubscriptions.ownerId, ownerId))
      if (filters.active !== undefined) where.push(eq(webhookSubscriptions.active, filters.active))
      if (filters.event) where.push(arrayContains(webhookSubscriptions.events, [filters.event]))
      const cond = where.length ? and(...where) : undefined
      const [items, [total]] = await Promise.all([
        db
          .select(subscriptionColumns)
          .from(webhookSubscriptions)
          .where(cond)
          .orderBy(...orderBy(list.sort, subscriptionColumns, webhookSubscriptions.id))
          .limit(list.limit)
          .offset(list.offset),
        db.select({ n: count() }).from(webhookSubscriptions).where(cond),
      ])
      return { items, total: total?.n ?? 0 }
    },

    /** Active subscriptions that asked for this event type. */
    async matching(db: DbOrTx, event: string): Promise<{ id: string }[]> {
      return db
        .select({ id: webhookSubscriptions.id })
        .from(webhookSubscriptions)
        .where(and(eq(webhookSubscriptions.active, true), arrayContains(webhookSubscriptions.events, [event])))
    },

    async insertDeliveries(db: DbOrTx, rows: NewDelivery[]): Promise<void> {
      if (rows.length > 0) await db.insert(webhookDeliveries).values(rows)
    },

    async getDelivery(db: DbOrTx, webhookId: string, id: string): Promise<DeliveryRow | undefined> {
      const [row] = await db
        .select(deliveryColumns)
        .from(webhookDeliveries)
        .where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.id, id)))
      return row
    },

    /** What the worker needs for one attempt: the delivery and its subscription's target and secret. */
    async getForAttempt(db: DbOrTx, id: string) {
      const [row] = await db
        .select({
          id: webhookDeliveries.id,
          event: webhookDeliveries.event,
          payload: webhookDeliveries.payload,
          status: webhookDeliveries.status,
          attempts: webhookDeliveries.attempts,
          requestId: webhookDeliveries.requestId,
          url: webhookSubscriptions.url,
          secret: webhookSubscriptions.secret,
          active: webhookSubscriptions.active,
        })
        .from(webhookDeliveries)
        .innerJoin(webhookSubscriptions, eq(webhookSubscriptions.id, webhookDeliveries.webhookId))
        .where(eq(webhookDeliveries.id, id))
      return row
    },

    /** Record one attempt (the counter goes up by one) and its outcome. */
    async recordAttempt(db: DbOrTx, id: string, outcome: AttemptOutcome): Promise<void> {
      await db
        .update(webhookDeliveries)
        .set({
          attempts: sql`${webhookDeliveries.attempts} + 1`,
          status: outcome.status,
          lastStatusCode: outcome.statusCode,
          lastError: outcome.error ? outcome.error.slice(0, 2000) : null,
          nextAttemptAt: outcome.nextAttemptAt,
          updatedAt: new Date(),
        })
        .where(eq(webhookDeliveries.id, id))
    },

    /** Dead-lettered: out of attempts (or the job expired). Only a delivery still pending changes. */
    async markDeadIfPending(db: DbOrTx, id: string): Promise<boolean> {
      const rows = await db
        .update(webhookDeliveries)
        .set({
          status: 'dead',
          nextAttemptAt: null,
          updatedAt: new Date(),
          lastError: sql`coalesce(${webhookDeliveries.lastError}, 'out of attempts')`,
        })
        .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.status, 'pending')))
        .returning({ id: webhookDeliveries.id })
      return rows.length > 0
    },

    async listDeliveries(db: DbOrTx, webhookId: string, filters: DeliveryFilters, list: ParsedList) {
      const where: SQL[] = [eq(webhookDeliveries.webhookId, webhookId)]
      if (filters.status) where.push(eq(webhookDeliveries.status, filters.status))
      if (filters.event) where.push(eq(webhookDeliveries.event, filters.event))
      const cond = and(...where)
      const [items, [total]] = await Promise.all([
        db
          .select(deliveryColumns)
          .from(webhookDeliveries)
          .where(cond)
          .orderBy(...orderBy(list.sort, deliveryColumns, webhookDeliveries.id))
          .limit(list.limit)
          .offset(list.offset),
        db.select({ n: count() }).from(webhookDeliveries).where(cond),
      ])
      return { items, total: total?.n ?? 0 }
    },
  }
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>
