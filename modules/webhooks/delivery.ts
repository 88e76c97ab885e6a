// Webhooks' workers (jobs.ts): the fan-out of business events into deliveries — only to
// subscriptions whose owner is in the event's audience — and one delivery attempt (check the
// audience again, sign per Standard Webhooks, POST, classify, retry or give up). No HTTP routes here.
import { Webhook as Signer } from 'standardwebhooks'
import type { Db } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import type { EventEnvelope, Events } from '../../plugins/events.js'
import { PermanentJobError, type JobContext, type Jobs } from '../../plugins/queue/index.js'
import { newId } from '../../src/lib/ids.js'
import type { UserContract } from '../users/contract.js'
import { BlockedAddressError, postJson, retryAfterSeconds, type PostResult } from './http.js'
import type { WebhookRepository } from './repository.js'
import { DELIVER_QUEUE, invalidateDeliveryCounts, WEBHOOK_COUNT_NAMESPACE } from './service.js'

/** The longest Retry-After honoured (seconds); longer asks are capped. */
const MAX_RETRY_AFTER_SECONDS = 6 * 3600

/** The JSON body POSTed to a receiver (stored as the delivery's payload). */
export interface DeliveryBody {
  type: string
  timestamp: string
  data: unknown
}

export interface AudienceDeps {
  users: Pick<UserContract, 'getAuthState'>
  events: Pick<Events, 'mayReceive'>
}

/**
 * Why a subscription's owner may not receive this event now — deleted, disabled, or not in the
 * event's audience with its current role — or null when it may. The auth state is the users
 * contract's (cached, and dropped by users whenever a role or status changes).
 */
export function createAudienceCheck({ users, events }: AudienceDeps) {
  return async function refusal(ownerId: string, event: Pick<EventEnvelope, 'type' | 'data'>): Promise<string | null> {
    const owner = await users.getAuthState(ownerId)
    if (!owner) return "the subscription's owner no longer exists"
    if (owner.status !== 'active') return "the subscription's owner is disabled"
    if (!events.mayReceive(event, { id: ownerId, role: owner.role })) {
      return `the subscription's owner (role ${owner.role}) is not in the audience of ${event.type}`
    }
    return null
  }
}
export type AudienceCheck = ReturnType<typeof createAudienceCheck>

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
        .map((s) => ({ id: newId(), webhookId: s.id, eventId: event.id, event: event.type, payload: body, requestId: event.requestId }))
      if (rows.length === 0) return []
      const added = await db.transaction(async (tx) => {
        const ids = await repo.insertDeliveries(tx, rows)
        await jobs.insert(
          ids.map((deliveryId) => ({ name: DELIVER_QUEUE, data: { deliveryId } })),
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
}

type Classified =
  | { kind: 'succeeded'; statusCode: number }
  | { kind: 'retry'; statusCode: number | null; error: string; retryAfter?: number }
  | { kind: 'failed'; statusCode: number | null; error: string }

/** 2xx succeeds; network errors, timeouts, 5xx and 429 are worth retrying; any other answer (and a refused address) is final. */
function classify(result: PostResult | Error): Classified {
  if (result instanceof BlockedAddressError) return { kind: 'failed', statusCode: null, error: result.message }
  if (result instanceof Error)
    return { kind: 'retry', statusCode: null, error: `${(result as NodeJS.ErrnoException).code ?? 'ERROR'}: ${result.message}` }
  const { statusCode } = result
  if (statusCode >= 200 && statusCode < 300) return { kind: 'succeeded', statusCode }
  if (statusCode === 429 || statusCode >= 500) {
    const retryAfter = retryAfterSeconds(result.headers['retry-after'])
    return { kind: 'retry', statusCode, error: `HTTP ${statusCode}`, ...(retryAfter === undefined ? {} : { retryAfter }) }
  }
  return { kind: 'failed', statusCode, error: `HTTP ${statusCode} (not retried)` }
}

/** The Standard Webhooks headers of one attempt: webhook-id stays the same across retries, the timestamp does not. */
function signedHeaders(secret: string, id: string, body: string, now = new Date()): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': new Signer(secret).sign(id, now, body),
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
      const body = d.payload as DeliveryBody
      const refusal = await audience(d.ownerId, { type: d.event, data: body.data })
      if (refusal) {
        if (await repo.refuse(db, deliveryId, `not sent: ${refusal}`)) await invalidateDeliveryCounts(cache)
        ctx.log.warn({ event: 'webhook.refused', deliveryId, type: d.event, reason: refusal }, 'webhook delivery not sent')
        return { status: 'failed' }
      }

      const attempt = d.attempts + 1
      const raw = JSON.stringify(body)
      const headers = { ...signedHeaders(d.secret, d.id, raw), ...(d.requestId ? { 'x-request-id': d.requestId } : {}) }
      const started = Date.now()
      const result = await postJson(d.url, raw, headers, { timeoutMs, allowPrivate }).catch((err: Error) => err)
      const outcome = classify(result)
      const logFields = {
        event: 'webhook.attempt',
        deliveryId,
        type: d.event,
        attempt,
        outcome: outcome.kind,
        statusCode: outcome.statusCode,
        durationMs: Date.now() - started,
      }

      if (outcome.kind === 'succeeded') {
        await repo.recordAttempt(db, deliveryId, { status: 'succeeded', statusCode: outcome.statusCode, error: null, nextAttemptAt: null })
        await invalidateDeliveryCounts(cache)
        ctx.log.info(logFields, 'webhook delivered')
        return { status: 'succeeded' }
      }
      if (outcome.kind === 'failed') {
        await repo.recordAttempt(db, deliveryId, {
          status: 'failed',
          statusCode: outcome.statusCode,
          error: outcome.error,
          nextAttemptAt: null,
        })
        await invalidateDeliveryCounts(cache)
        ctx.log.warn({ ...logFields, error: outcome.error }, 'webhook delivery failed (not retried)')
        throw new PermanentJobError(outcome.error)
      }
      if (attempt >= maxAttempts) {
        await repo.recordAttempt(db, deliveryId, {
          status: 'dead',
          statusCode: outcome.statusCode,
          error: outcome.error,
          nextAttemptAt: null,
        })
        await invalidateDeliveryCounts(cache)
        ctx.log.warn({ ...logFields, error: outcome.error }, 'webhook delivery dead after its last attempt')
        throw new PermanentJobError(`out of attempts: ${outcome.error}`)
      }
      if (outcome.retryAfter !== undefined) {
        // The receiver said when: a fresh job for then, with the attempts left (this one completes).
        const wait = Math.min(outcome.retryAfter, MAX_RETRY_AFTER_SECONDS)
        const at = new Date(Date.now() + wait * 1000)
        await db.transaction(async (tx) => {
          await repo.recordAttempt(tx, deliveryId, {
            status: 'pending',
            statusCode: outcome.statusCode,
            error: outcome.error,
            nextAttemptAt: at,
          })
          await jobs.insert([{ name: DELIVER_QUEUE, data: { deliveryId }, startAfter: at, retryLimit: maxAttempts - attempt - 1 }], { tx })
        })
        ctx.log.warn({ ...logFields, error: outcome.error, retryAfter: wait }, 'webhook delivery rescheduled (Retry-After)')
        return { status: 'rescheduled' }
      }
      // pg-boss waits retryDelay * 2^retryCount .. twice that before the next attempt.
      const at = new Date(Date.now() + retryDelaySeconds * 2 ** ctx.retryCount * 1000)
      await repo.recordAttempt(db, deliveryId, {
        status: 'pending',
        statusCode: outcome.statusCode,
        error: outcome.error,
        nextAttemptAt: at,
      })
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
