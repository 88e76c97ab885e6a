// Webhooks: the rules of subscriptions (SSRF-checked URL, a cap per user, the secret shown once,
// owner-or-admin visibility, cached list totals) and of their delivery logs and replays. No HTTP here.
// Fanning events out and attempting deliveries is delivery.ts (the workers).
import { randomBytes } from 'node:crypto'
import type { Db } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import type { Jobs } from '../../plugins/queue/index.js'
import { can, type Principal } from '../../src/lib/permissions.js'
import { withDetails } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import type { AuditWriter } from '../audit-events/contract.js'
import { DeliveryNotFoundError, UnsafeWebhookUrlError, WebhookLimitError, WebhookNotFoundError } from './errors.js'
import type { DeliveryRow, WebhookRepository, WebhookRow } from './repository.js'
import type { CreateWebhookInput, Delivery, DeliveryFilters, Webhook, WebhookCreated, WebhookFilters } from './schemas.js'
import { isAllowedTarget } from './ssrf.js'

export const WEBHOOK_COUNT_NAMESPACE = 'webhooks'
export const DELIVERY_COUNT_NAMESPACE = 'webhook-deliveries'
export const DELIVER_QUEUE = 'deliver-webhook'
export const DELIVER_DEAD_QUEUE = 'deliver-webhook-dead'

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`

const toWebhook = (row: WebhookRow): Webhook => ({ ...row, createdAt: row.createdAt.toISOString() })
export const toDelivery = (row: DeliveryRow): Delivery => ({
  ...row,
  nextAttemptAt: row.nextAttemptAt ? row.nextAttemptAt.toISOString() : null,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
})

/** After deliveries were added, removed or changed status: drop the cached delivery-log totals. */
export const invalidateDeliveryCounts = (cache: Cache) => cache.invalidateCounts(DELIVERY_COUNT_NAMESPACE)

export interface WebhookServiceDeps {
  db: Db
  /** Lists read here (a replica when configured). */
  dbRead: Db
  cache: Cache
  repo: WebhookRepository
  jobs: Pick<Jobs, 'insert'>
  /** WEBHOOK_ALLOW_PRIVATE: accept URLs that resolve to private addresses (not cloud metadata). */
  allowPrivate: boolean
  /** WEBHOOKS_MAX_PER_USER. */
  maxPerUser: number
  audit: AuditWriter
}

export function createWebhookService({ db, dbRead, cache, repo, jobs, allowPrivate, maxPerUser, audit }: WebhookServiceDeps) {
  const isAdmin = (p: Principal) => can(p, 'admin')

  /** The subscription, if the caller may see it (its owner or an admin); 404 otherwise, so ids don't leak. */
  async function visible(principal: Principal, id: string, handle: Db = dbRead): Promise<WebhookRow> {
    const row = await repo.findById(handle, id)
    if (!row || (row.ownerId !== principal.id && !isAdmin(principal))) throw new WebhookNotFoundError()
    return row
  }

  return {
    async create(principal: Principal, input: CreateWebhookInput): Promise<WebhookCreated> {
      if (!(await isAllowedTarget(new URL(input.url), allowPrivate))) {
        throw withDetails(new UnsafeWebhookUrlError(), [{ field: 'url', message: 'must resolve to public addresses only' }])
      }
      const secret = newSecret()
      const row = await db.transaction(async (tx) => {
        if ((await repo.lockAndCountOwned(tx, principal.id)) >= maxPerUser) {
          throw new WebhookLimitError(`You have ${maxPerUser} webhooks, as many as allowed; delete one first`)
        }
        const inserted = await repo.insert(tx, { id: newId(), ownerId: principal.id, url: input.url, events: input.events, secret })
        await audit.record(tx, {
          action: 'webhook.created',
          subject: { type: 'webhook', id: inserted.id },
          details: { events: input.events },
        })
        return inserted
      })
      await cache.invalidateCounts(WEBHOOK_COUNT_NAMESPACE)
      return { ...toWebhook(row), secret }
    },

    /** Your subscriptions; an admin's list is everybody's. */
    async list(principal: Principal, filters: WebhookFilters, list: ParsedList): Promise<{ items: Webhook[]; meta: PageMeta }> {
      const ownerId = isAdmin(principal) ? undefined : principal.id
      const [rows, total] = await Promise.all([
        repo.list(dbRead, ownerId, filters, list),
        cache.count(WEBHOOK_COUNT_NAMESPACE, { ownerId, ...filters }, () => repo.count(dbRead, ownerId, filters)),
      ])
      return toPage(rows, list, toWebhook, total)
    },

    async get(principal: Principal, id: string): Promise<Webhook> {
      return toWebhook(await visible(principal, id))
    },

    /** Deleting a subscription deletes its deliveries; queued attempts find nothing and stop. */
    async remove(principal: Principal, id: string): Promise<void> {
      const row = await visible(principal, id, db)
      await db.transaction(async (tx) => {
        if (!(await repo.delete(tx, id))) throw new WebhookNotFoundError()
        await audit.record(tx, { action: 'webhook.deleted', subject: { type: 'webhook', id }, account: row.ownerId })
      })
      await Promise.all([cache.invalidateCounts(WEBHOOK_COUNT_NAMESPACE), invalidateDeliveryCounts(cache)])
    },

    async deliveries(
      principal: Principal,
      id: string,
      filters: DeliveryFilters,
      list: ParsedList,
    ): Promise<{ items: Delivery[]; meta: PageMeta }> {
      await visible(principal, id)
      // The page and its total at once. A keyset page has no total: counting is what cursor pagination exists to avoid.
      const [rows, total] = await Promise.all([
        repo.listDeliveries(dbRead, id, filters, list),
        list.cursor
          ? undefined
          : cache.count(DELIVERY_COUNT_NAMESPACE, { webhookId: id, ...filters }, () => repo.countDeliveries(dbRead, id, filters)),
      ])
      return toPage(rows, list, toDelivery, total)
    },

    async delivery(principal: Principal, id: string, deliveryId: string): Promise<Delivery> {
      await visible(principal, id)
      const row = await repo.findDelivery(dbRead, id, deliveryId)
      if (!row) throw new DeliveryNotFoundError()
      return toDelivery(row)
    },

    /**
     * Send a past delivery's payload again, as a new delivery of the same event (the original keeps
     * its record). Whether the owner may still receive it is checked when it is attempted.
     */
    async replay(principal: Principal, id: string, deliveryId: string): Promise<Delivery> {
      await visible(principal, id, db)
      const original = await repo.findDelivery(db, id, deliveryId)
      if (!original) throw new DeliveryNotFoundError()
      const replayId = newId()
      await db.transaction(async (tx) => {
        await repo.insertDeliveries(tx, [
          {
            id: replayId,
            webhookId: id,
            eventId: original.eventId,
            event: original.event,
            payload: original.payload,
            requestId: original.requestId,
            replayOf: original.id,
          },
        ])
        await jobs.insert([{ name: DELIVER_QUEUE, data: { deliveryId: replayId } }], { tx })
      })
      await invalidateDeliveryCounts(cache)
      return toDelivery((await repo.findDelivery(db, id, replayId))!)
    },
  }
}

export type WebhookService = ReturnType<typeof createWebhookService>
