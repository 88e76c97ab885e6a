// Webhook subscriptions (who wants which events, where, signed with which secret; active, paused or
// disabled for failing), their deliveries (one row per event per subscription; last outcome, next
// attempt) and each delivery's attempts (when, answer, duration, error, an excerpt of the body).
import { sql } from 'drizzle-orm'
import { boolean, check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
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
    /** After a rotation: the secret before it, still signing (beside the new one) until `previousSecretExpiresAt`. */
    previousSecret: text(),
    previousSecretExpiresAt: timestampColumn(),
    /** False: paused by its owner, or disabled for failing (`disabledReason`). An inactive subscription queues nothing. */
    active: boolean().notNull().default(true),
    /** Why Keel disabled it (it kept failing); null when active or paused by its owner. */
    disabledReason: text(),
    /** Failed attempts in a row, across its deliveries; a success resets it. At WEBHOOK_DISABLE_AFTER_FAILURES it is disabled. */
    consecutiveFailures: integer().notNull().default(0),
    version: versionColumn(),
    ...timestamps(),
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
    /** The body POSTed; null once the owner was found outside the event's audience (it is not kept). */
    payload: jsonb(),
    status: text({ enum: DELIVERY_STATUSES }).notNull().default('pending'),
    attempts: integer().notNull().default(0),
    lastStatusCode: integer(),
    lastError: text(),
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

/** One request sent for a delivery (or its refusal at connect time): what a receiver's owner debugs with. */
export const webhookDeliveryAttempts = pgTable(
  'webhook_delivery_attempts',
  {
    id: idColumn(),
    deliveryId: uuid()
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    /** 1 for the first request of the delivery, 2 for the next, ... */
    attempt: integer().notNull(),
    startedAt: timestampColumn().notNull(),
    durationMs: integer().notNull(),
    /** The receiver's answer; null when none came (network error, timeout, refused address). */
    statusCode: integer(),
    error: text(),
    /** The first bytes of the receiver's answer (WEBHOOK_RESPONSE_EXCERPT_BYTES at most). */
    responseBody: text(),
  },
  (t) => [uniqueIndex('webhook_delivery_attempts_delivery_id_attempt_idx').on(t.deliveryId, t.attempt)],
)
