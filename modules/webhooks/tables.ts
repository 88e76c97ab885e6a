// Webhook subscriptions (who wants which events, where, signed with which secret) and their
// deliveries (one row per event per subscription; attempts, last outcome, next attempt).
import { sql } from 'drizzle-orm'
import { boolean, check, index, integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'

export const WEBHOOK_EVENTS = ['order.created', 'order.cancelled', 'product.updated'] as const
export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'dead'] as const

const ts = () => timestamp({ withTimezone: true, precision: 3, mode: 'date' })

export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: uuid().primaryKey(),
    ownerId: uuid().notNull(),
    url: text().notNull(),
    events: text().array().notNull(),
    /** `whsec_<base64>`: kept (not hashed) because every delivery is signed with it. */
    secret: text().notNull(),
    active: boolean().notNull().default(true),
    createdAt: ts().notNull().defaultNow(),
  },
  (t) => [
    index('webhook_subscriptions_owner_id_created_at_idx').on(t.ownerId, t.createdAt, t.id),
    index('webhook_subscriptions_created_at_id_idx').on(t.createdAt, t.id),
    // publishEvent: active subscriptions whose events contain the type.
    index('webhook_subscriptions_events_idx').using('gin', t.events),
  ],
)

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid().primaryKey(),
    webhookId: uuid()
      .notNull()
      .references(() => webhookSubscriptions.id, { onDelete: 'cascade' }),
    event: text().notNull(),
    payload: jsonb().notNull(),
    status: text({ enum: DELIVERY_STATUSES }).notNull().default('pending'),
    attempts: integer().notNull().default(0),
    lastStatusCode: integer(),
    lastError: text(),
    requestId: text(),
    /** Set on a replay: the delivery it re-sends. */
    replayOf: uuid(),
    nextAttemptAt: ts(),
    createdAt: ts().notNull().defaultNow(),
    updatedAt: ts().notNull().defaultNow(),
  },
  (t) => [
    check('webhook_deliveries_status_valid', sql`${t.status} in ('pending', 'succeeded', 'failed', 'dead')`),
    index('webhook_deliveries_webhook_id_created_at_idx').on(t.webhookId, t.createdAt, t.id),
  ],
)
