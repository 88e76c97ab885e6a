// Webhook subscriptions (who wants which events, where, signed with which secret) and their
// deliveries (one row per event per subscription; attempts, last outcome, next attempt).
import { sql } from 'drizzle-orm'
import { check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { idColumn, timestampColumn, timestamps, versionColumn } from '../../src/db/columns.js'

export const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed', 'dead'] as const

export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: idColumn(),
    /** The user who subscribed: it receives only the events this user may read. */
    ownerId: uuid().notNull(),
    url: text().notNull(),
    events: text().array().notNull(),
    /** `whsec_<base64>`: kept (not hashed) because every delivery is signed with it. */
    secret: text().notNull(),
    // A subscription is never changed (delete it and subscribe again), so it has no updatedAt, and its
    // version (the ETag) stays 1 until subscriptions can be changed.
    version: versionColumn(),
    createdAt: timestampColumn().notNull().defaultNow(),
  },
  (t) => [
    index('webhook_subscriptions_owner_id_created_at_idx').on(t.ownerId, t.createdAt, t.id),
    index('webhook_subscriptions_created_at_id_idx').on(t.createdAt, t.id),
    // The fan-out: subscriptions whose events contain the type.
    index('webhook_subscriptions_events_idx').using('gin', t.events),
  ],
)

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: idColumn(),
    webhookId: uuid()
      .notNull()
      .references(() => webhookSubscriptions.id, { onDelete: 'cascade' }),
    /** The business event delivered (its envelope id); a replay keeps the original's. */
    eventId: uuid().notNull(),
    event: text().notNull(),
    payload: jsonb().notNull(),
    status: text({ enum: DELIVERY_STATUSES }).notNull().default('pending'),
    attempts: integer().notNull().default(0),
    lastStatusCode: integer(),
    lastError: text(),
    requestId: text(),
    /** Set on a replay: the delivery it re-sends. */
    replayOf: uuid(),
    nextAttemptAt: timestampColumn(),
    /** Bumped by every attempt recorded, refusal and dead-letter: the delivery's ETag. */
    version: versionColumn(),
    ...timestamps(),
  },
  (t) => [
    check('webhook_deliveries_status_valid', sql`${t.status} in ('pending', 'succeeded', 'failed', 'dead')`),
    index('webhook_deliveries_webhook_id_created_at_idx').on(t.webhookId, t.createdAt, t.id),
    // One delivery per event and subscription, however often the fan-out of that event runs (a
    // retried job inserts nothing the second time). Replays are further deliveries of the same event.
    uniqueIndex('webhook_deliveries_webhook_id_event_id_idx')
      .on(t.webhookId, t.eventId)
      .where(sql`${t.replayOf} is null`),
  ],
)
