// Webhooks: subscriptions (SSRF-checked, secret shown once), the fan-out of business events into
// deliveries, and the delivery attempt itself (sign, POST, classify, retry or give up).
import type { Db, DbOrTx } from '../../src/db/client.js'
import { newId } from '../../src/lib/ids.js'
import { pageMeta, type ParsedList } from '../../src/lib/pagination.js'
import { withDetails } from '../../src/lib/errors.js'
import { can, type Principal } from '../../plugins/rbac.js'
import { PermanentJobError, type Jobs } from '../../plugins/queue/index.js'
import type { EventEnvelope } from '../../plugins/events.js'
import type { DeliveryRow, SubscriptionRow, WebhookRepository } from './repository.js'
import type { CreateWebhookInput, Delivery, DeliveryFilters, Webhook, WebhookCreated, WebhookFilters } from './schemas.js'
import { DeliveryNotFoundError, UnsafeWebhookUrlError, WebhookInactiveError, WebhookNotFoundError } from './errors.js'
import { unsafeReason } from './ssrf.js'
import { newSecret, signedHeaders } from './signing.js'
import { BlockedAddressError, postJson, retryAfterSeconds, type PostResult } from './http.js'

export const DELIVER_QUEUE = 'deliver-webhook'
export const DELIVER_DEAD_QUEUE = 'deliver-webhook-dead'
/** The longest Retry-After honoured (seconds); longer asks are capped. */
const MAX_RETRY_AFTER_SECONDS = 6 * 3600

export interface FanOutDeps {
  db: Db
  repo: WebhookRepository
  jobs: Pick<Jobs, 'insert'>
}

/**
 * The webhooks subscriber (jobs.ts): one delivery row and one deliver-webhook job per active
 * subscription to the event's type, written together. The body POSTed is `{type, timestamp, data}`.
 */
export function createWebhookFanOut({ db, repo, jobs }: FanOutDeps) {
  return async function fanOut(event: EventEnvelope): Promise<string[]> {
    const payload = { type: event.type, timestamp: event.occurredAt, data: event.data }
    return db.transaction(async (tx) => {
      const subscriptions = await repo.matching(tx, event.type)
      const rows = subscriptions.map((s) => ({ id: newId(), webhookId: s.id, event: event.type, payload, requestId: event.requestId }))
      if (rows.length === 0) return []
      await repo.insertDeliveries(tx, rows)
      await jobs.insert(
        rows.map((r) => ({ name: DELIVER_QUEUE, data: { deliveryId: r.id } })),
        { tx },
      )
      return rows.map((r) => r.id)
    })
  }
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)
const webhookToApi = (row: SubscriptionRow): Webhook => ({ ...row, createdAt: row.createdAt.toISOString() })
export const deliveryToApi = (row: DeliveryRow): Delivery => ({
  ...row,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
  nextAttemptAt: iso(row.nextAttemptAt),
})

export interface WebhookServiceDeps {
  db: Db
  dbRead: Db
  repo: WebhookRepository
  jobs: Pick<Jobs, 'insert'>
  allowPrivate: boolean
}

export function createWebhookService({ db, dbRead, repo, jobs, allowPrivate }: WebhookServiceDeps) {
  const isAdmin = (p: Principal) => can(p, 'admin')

  /** The subscription, if the caller may see it (its owner or an admin); 404 otherwise. */
  async function visible(principal: Principal, id: string, handle: DbOrTx = dbRead): Promise<SubscriptionRow> {
    const row = await repo.getSubscription(handle, id)
    if (!row || (row.ownerId !== principal.id && !isAdmin(principal))) throw new WebhookNotFoundError()
    return row
  }

  return {
    async create(principal: Principal, input: CreateWebhookInput): Promise<WebhookCreated> {
      if (!allowPrivate) {
        const reason = await unsafeReason(new URL(input.url))
        if (reason)
          throw withDetails(new UnsafeWebhookUrlError(`The webhook URL is not allowed: ${reason}`), [{ field: 'url', message: reason }])
      }
      const secret = newSecret()
      const row = await repo.insertSubscription(db, { id: newId(), ownerId: principal.id, url: input.url, events: input.events, secret })
      return { ...webhookToApi(row), secret }
    },

    async list(principal: Principal, filters: WebhookFilters, list: ParsedList) {
      const { items, total } = await repo.listSubscriptions(dbRead, isAdmin(principal) ? undefined : principal.id, filters, list)
      return { items: items.map(webhookToApi), meta: pageMeta(list, total) }
    },

    async get(principal: Principal, id: string): Promise<Webhook> {
      return webhookToApi(await visible(principal, id))
    },

    /** Deleting a subscription deletes its deliveries; queued attempts find nothing and stop. */
    async remove(principal: Principal, id: string): Promise<void> {
      await visible(principal, id, db)
      await repo.deleteSubscription(db, id)
    },

    async deliveries(principal: Principal, id: string, filters: DeliveryFilters, list: ParsedList) {
      await visible(principal, id)
      const { items, total } = await repo.listDeliveries(dbRead, id, filters, list)
      return { items: items.map(deliveryToApi), meta: pageMeta(list, total) }
    },

    async delivery(principal: Principal, id: string, deliveryId: string): Promise<Delivery> {
      await visible(principal, id)
      const row = await repo.getDelivery(dbRead, id, deliveryId)
      if (!row) throw new DeliveryNotFoundError()
      return deliveryToApi(row)
    },

    /** Send a past delivery's payload again, as a new delivery (the original keeps its record). */
    async replay(principal: Principal, id: string, deliveryId: string): Promise<Delivery> {
      const subscription = await visible(principal, id, db)
      if (!subscription.active) throw new WebhookInactiveError()
      const original = await repo.getDelivery(db, id, deliveryId)
      if (!original) throw new DeliveryNotFoundError()
      const replayId = newId()
      await db.transaction(async (tx) => {
        await repo.insertDeliveries(tx, [
          {
            id: replayId,
            webhookId: id,
            event: original.event,
            payload: original.payload,
            requestId: original.requestId,
            replayOf: original.id,
          },
        ])
        await jobs.insert([{ name: DELIVER_QUEUE, data: { deliveryId: replayId } }], { tx })
      })
      return deliveryToApi((await repo.getDelivery(db, id, replayId))!)
    },
  }
}

export type WebhookService = ReturnType<typeof createWebhookService>

export interface DelivererDeps {
  db: Db
  repo: WebhookRepository
  jobs: Pick<Jobs, 'insert'>
  maxAttempts: number
  timeoutMs: number
  allowPrivate: boolean
  /** The queue's base retry delay (seconds), to tell when the next attempt is due. */
  retryDelaySeconds: number
}

export interface AttemptContext {
  retryCount: number
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void }
}

type Classified =
  | { kind: 'succeeded'; statusCode: number }
  | { kind: 'retry'; statusCode: number | null; error: string; retryAfter?: number }
  | { kind: 'failed'; statusCode: number | null; error: string }

/** 2xx succeeds; network errors, timeouts, 5xx and 429 are worth retrying; any other answer is final. */
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

/** What the deliver-webhook worker runs. */
export function createWebhookDeliverer({ db, repo, jobs, maxAttempts, timeoutMs, allowPrivate, retryDelaySeconds }: DelivererDeps) {
  return {
    /**
     * One attempt. Succeeded/failed/dead (or deleted): nothing to do. A retryable failure either
     * throws (the queue retries with exponential backoff) or, when the receiver sent Retry-After,
     * schedules the next attempt for then. The last allowed attempt marks the delivery dead.
     */
    async attempt(deliveryId: string, ctx: AttemptContext): Promise<{ status: string }> {
      const d = await repo.getForAttempt(db, deliveryId)
      if (!d || d.status !== 'pending') return { status: 'skipped' }
      const attempt = d.attempts + 1
      if (!d.active) {
        await repo.recordAttempt(db, deliveryId, {
          status: 'failed',
          statusCode: null,
          error: 'the subscription is inactive',
          nextAttemptAt: null,
        })
        return { status: 'failed' }
      }
      const body = JSON.stringify(d.payload)
      const headers = { ...signedHeaders(d.secret, d.id, body), ...(d.requestId ? { 'x-request-id': d.requestId } : {}) }
      const started = Date.now()
      const result = await postJson(d.url, body, headers, { timeoutMs, allowPrivate }).catch((err: Error) => err)
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
      return repo.markDeadIfPending(db, deliveryId)
    },
  }
}
