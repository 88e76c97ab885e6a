// Webhooks' workers (jobs.ts): the fan-out of business events into deliveries — only to
// subscriptions whose owner is in the event's audience — and one delivery attempt (check the
// audience again, sign per Standard Webhooks, POST, classify, retry or give up). No HTTP routes here.
import { Webhook as Signer } from 'standardwebhooks'
import type { Db, DbOrTx } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import type { EventEnvelope, Events } from '../../plugins/events.js'
import type { AudienceCheck, DeliveryBody } from './audience.js'
import { PermanentJobError, type JobContext, type Jobs } from '../../plugins/queue/index.js'
import { newId } from '../../src/lib/ids.js'
import { BlockedAddressError, describeNetworkError, postJson, retryAfterSeconds, type PostResult } from './http.js'
import { webhookDisabled } from './events.js'
import type { DeliveryRow, WebhookRepository } from './repository.js'
import { DELIVER_QUEUE, invalidateDeliveryCounts, WEBHOOK_COUNT_NAMESPACE } from './service.js'

/** The longest Retry-After honoured (seconds); longer asks are capped. */
const MAX_RETRY_AFTER_SECONDS = 6 * 3600

export interface SubscriberDeps {
  db: Db
  cache: Cache
  repo: WebhookRepository
  jobs: Pick<Jobs, 'insert'>
  audience: AudienceCheck
}

/** What webhooks does with other modules' events (the subscriber queues in jobs.ts). */
export function createWebhookSubscribers({ db, cache, repo, jobs, audience }: SubscriberDeps) {
  return {
    /**
     * Every business event: one delivery row and one deliver-webhook job per subscription to its
     * type whose owner may receive it, written together. Idempotent: a retried fan-out of the same
     * event adds nothing (one delivery per event and subscription). Returns the deliveries added.
     */
    async fanOut(event: EventEnvelope): Promise<string[]> {
      const subscriptions = await repo.subscribedTo(db, event.type)
      const owners = [...new Set(subscriptions.map((s) => s.ownerId))]
      const refusals = await Promise.all(owners.map((owner) => audience(owner, event)))
      const receives = new Set(owners.filter((_, i) => refusals[i] === null))
      const body: DeliveryBody = { type: event.type, timestamp: event.occurredAt, data: event.data }
      const rows = subscriptions
        .filter((s) => receives.has(s.ownerId))
        .map((s) => ({ id: newId(), webhookId: s.id, eventId: event.id, event: event.type, payload: body }))
      if (rows.length === 0) return []
      const ownerOf = new Map(subscriptions.map((s) => [s.id, s.ownerId]))
      const added = await db.transaction(async (tx) => {
        const ids = await repo.insertDeliveries(tx, rows)
        const inserted = new Set(ids)
        // Grouped by owner: at most WEBHOOK_CONCURRENCY_PER_OWNER of one owner's deliveries run at once.
        await jobs.insert(
          rows
            .filter((r) => inserted.has(r.id))
            .map((r) => ({ name: DELIVER_QUEUE, data: { deliveryId: r.id }, group: ownerOf.get(r.webhookId)! })),
          { tx },
        )
        return ids
      })
      if (added.length > 0) await invalidateDeliveryCounts(cache)
      return added
    },

    /** user.deleted: the user's subscriptions (and their deliveries) go with the account. */
    async ownerDeleted(ownerId: string): Promise<number> {
      const deleted = await repo.deleteByOwner(db, ownerId)
      if (deleted > 0) await Promise.all([cache.invalidateCounts(WEBHOOK_COUNT_NAMESPACE), invalidateDeliveryCounts(cache)])
      return deleted
    },
  }
}

export interface DelivererDeps {
  db: Db
  cache: Cache
  repo: WebhookRepository
  jobs: Pick<Jobs, 'insert'>
  audience: AudienceCheck
  maxAttempts: number
  timeoutMs: number
  allowPrivate: boolean
  /** The queue's base retry delay (seconds), to tell when the next attempt is due. */
  retryDelaySeconds: number
  /** WEBHOOK_DISABLE_AFTER_FAILURES: failed attempts in a row that disable a subscription. */
  disableAfterFailures: number
  /** To tell a disabled subscription's owner (webhook.disabled). */
  events: Pick<Events, 'publish'>
}

type Classified =
  | { kind: 'succeeded'; statusCode: number }
  | { kind: 'retry'; statusCode: number | null; error: string; retryAfter?: number }
  | { kind: 'failed'; statusCode: number | null; error: string }

/**
 * 2xx succeeds; network errors, timeouts, 5xx and 429 are worth retrying; any other answer (and a
 * refused address) is final. A network error is named by its code, never its message (which names
 * the address and port connected to).
 */
function classify(result: PostResult | Error, timeoutMs: number): Classified {
  if (result instanceof BlockedAddressError) return { kind: 'failed', statusCode: null, error: result.message }
  if (result instanceof Error) return { kind: 'retry', statusCode: null, error: describeNetworkError(result, timeoutMs) }
  const { statusCode } = result
  if (statusCode >= 200 && statusCode < 300) return { kind: 'succeeded', statusCode }
  if (statusCode === 429 || statusCode >= 500) {
    const retryAfter = retryAfterSeconds(result.headers['retry-after'])
    return { kind: 'retry', statusCode, error: `HTTP ${statusCode}`, ...(retryAfter === undefined ? {} : { retryAfter }) }
  }
  return { kind: 'failed', statusCode, error: `HTTP ${statusCode} (not retried)` }
}

/**
 * The Standard Webhooks headers of one attempt: webhook-id stays the same across retries, the
 * timestamp does not. Every secret given signs (space-separated `v1,` entries): after a rotation the
 * new secret and, during the overlap, the previous one, so a receiver holding either verifies.
 */
function signedHeaders(secrets: string[], id: string, body: string, now = new Date()): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Signer(secret).sign(id, now, body)).join(' '),
  }
}

/** What the deliver-webhook worker runs. */
export function createWebhookDeliverer({
  db,
  cache,
  repo,
  jobs,
  audience,
  maxAttempts,
  timeoutMs,
  allowPrivate,
  retryDelaySeconds,
  disableAfterFailures,
  events,
}: DelivererDeps) {
  return {
    /**
     * One attempt. Succeeded/failed/dead (or deleted): nothing to do. An owner who may no longer
     * receive the event (deleted, disabled, role changed) fails it unsent. A retryable failure either
     * throws (the queue retries with exponential backoff) or, when the receiver sent Retry-After,
     * schedules the next attempt for then. The last allowed attempt marks the delivery dead.
     */
    async attempt(deliveryId: string, ctx: Pick<JobContext, 'retryCount' | 'log'>): Promise<{ status: string }> {
      const d = await repo.findForAttempt(db, deliveryId)
      if (!d || d.status !== 'pending') return { status: 'skipped' }
      if (!d.active) {
        const reason = d.disabledReason ? `the subscription is disabled (${d.disabledReason})` : 'the subscription is paused'
        if (await repo.refuse(db, deliveryId, `not sent: ${reason}`, false)) await invalidateDeliveryCounts(cache)
        return { status: 'failed' }
      }
      const body = d.payload as DeliveryBody
      const refusal = await audience(d.ownerId, { type: d.event, data: body.data })
      if (refusal) {
        // The owner may not receive this event: it is not sent, and its payload is not kept either.
        if (await repo.refuse(db, deliveryId, `not sent: ${refusal}`, true)) await invalidateDeliveryCounts(cache)
        ctx.log.warn({ event: 'webhook.refused', deliveryId, type: d.event, reason: refusal }, 'webhook delivery not sent')
        return { status: 'failed' }
      }

      const attempt = d.attempts + 1
      const raw = JSON.stringify(body)
      const startedAt = new Date()
      const overlapping = d.previousSecret && d.previousSecretExpiresAt && d.previousSecretExpiresAt > startedAt
      const secrets = overlapping ? [d.secret, d.previousSecret!] : [d.secret]
      const result = await postJson(d.url, raw, signedHeaders(secrets, d.id, raw, startedAt), { timeoutMs, allowPrivate }).catch(
        (err: Error) => err,
      )
      const outcome = classify(result, timeoutMs)
      const durationMs = Date.now() - startedAt.getTime()
      const sent = {
        startedAt,
        durationMs,
        statusCode: outcome.statusCode,
        error: outcome.kind === 'succeeded' ? null : outcome.error,
        responseBody: result instanceof Error ? null : result.body,
      }
      const logFields = {
        event: 'webhook.attempt',
        deliveryId,
        type: d.event,
        attempt,
        outcome: outcome.kind,
        statusCode: outcome.statusCode,
        durationMs,
      }
      /** Record the attempt with the delivery's new state, and count it for (or against) the subscription. */
      const record = async (status: DeliveryRow['status'], nextAttemptAt: Date | null, more?: (tx: DbOrTx) => Promise<void>) => {
        const disabled = await db.transaction(async (tx) => {
          await repo.recordAttempt(tx, deliveryId, attempt, sent, {
            status,
            statusCode: outcome.statusCode,
            error: sent.error,
            nextAttemptAt,
          })
          await more?.(tx)
          if (outcome.kind === 'succeeded') {
            await repo.resetFailures(tx, d.webhookId)
            return false
          }
          // Disabled by this failure: its owner is told in the same transaction (webhook.disabled).
          const reason = `failed ${disableAfterFailures} attempts in a row (the last: ${outcome.error})`
          if (!(await repo.countFailure(tx, d.webhookId, disableAfterFailures, reason))) return false
          const told = { webhookId: d.webhookId, ownerId: d.ownerId, url: d.url, consecutiveFailures: disableAfterFailures, reason }
          await events.publish(webhookDisabled, told, { tx })
          return true
        })
        await invalidateDeliveryCounts(cache)
        if (disabled) {
          ctx.log.warn(
            { event: 'webhook.disabled', webhookId: d.webhookId, ownerId: d.ownerId, failures: disableAfterFailures },
            'webhook subscription disabled: it keeps failing',
          )
        }
      }

      if (outcome.kind === 'succeeded') {
        await record('succeeded', null)
        ctx.log.info(logFields, 'webhook delivered')
        return { status: 'succeeded' }
      }
      if (outcome.kind === 'failed') {
        await record('failed', null)
        ctx.log.warn({ ...logFields, error: outcome.error }, 'webhook delivery failed (not retried)')
        throw new PermanentJobError(outcome.error)
      }
      if (attempt >= maxAttempts) {
        await record('dead', null)
        ctx.log.warn({ ...logFields, error: outcome.error }, 'webhook delivery dead after its last attempt')
        throw new PermanentJobError(`out of attempts: ${outcome.error}`)
      }
      if (outcome.retryAfter !== undefined) {
        // The receiver said when: a fresh job for then, with the attempts left (this one completes).
        const wait = Math.min(outcome.retryAfter, MAX_RETRY_AFTER_SECONDS)
        const at = new Date(Date.now() + wait * 1000)
        await record('pending', at, (tx) =>
          jobs.insert(
            [{ name: DELIVER_QUEUE, data: { deliveryId }, startAfter: at, retryLimit: maxAttempts - attempt - 1, group: d.ownerId }],
            {
              tx,
            },
          ),
        )
        ctx.log.warn({ ...logFields, error: outcome.error, retryAfter: wait }, 'webhook delivery rescheduled (Retry-After)')
        return { status: 'rescheduled' }
      }
      // pg-boss waits retryDelay * 2^retryCount .. twice that before the next attempt.
      const at = new Date(Date.now() + retryDelaySeconds * 2 ** ctx.retryCount * 1000)
      await record('pending', at)
      ctx.log.warn({ ...logFields, error: outcome.error }, 'webhook delivery will be retried')
      throw new Error(outcome.error)
    },

    /** The dead-letter queue's handler: out of retries or expired while running. */
    async giveUp(deliveryId: string): Promise<boolean> {
      const dead = await repo.markDeadIfPending(db, deliveryId)
      if (dead) await invalidateDeliveryCounts(cache)
      return dead
    },
  }
}
