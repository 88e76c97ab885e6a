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
import type { AudienceCheck, DeliveryBody } from './audience.js'
import {
  DeliveryNotFoundError,
  DeliveryNotReplayableError,
  RotateOthersSecretError,
  StaleWebhookError,
  UnsafeWebhookUrlError,
  WebhookLimitError,
  WebhookNotFoundError,
} from './errors.js'
import type { AttemptRow, DeliveryRow, WebhookChanges, WebhookRepository, WebhookRow } from './repository.js'
import type {
  CreateWebhookInput,
  Delivery,
  DeliveryAttempt,
  DeliveryFilters,
  UpdateWebhookInput,
  Webhook,
  WebhookCreated,
  WebhookFilters,
  WebhookSecret,
} from './schemas.js'
import { isAllowedTarget } from './ssrf.js'

export const WEBHOOK_COUNT_NAMESPACE = 'webhooks'
export const DELIVERY_COUNT_NAMESPACE = 'webhook-deliveries'
export const DELIVER_QUEUE = 'deliver-webhook'
export const DELIVER_DEAD_QUEUE = 'deliver-webhook-dead'

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`

const toWebhook = (row: WebhookRow): Webhook => ({
  ...row,
  previousSecretExpiresAt: row.previousSecretExpiresAt ? row.previousSecretExpiresAt.toISOString() : null,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
})
const toAttempt = (row: Omit<AttemptRow, 'id' | 'deliveryId'>): DeliveryAttempt => ({ ...row, startedAt: row.startedAt.toISOString() })
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
  /** WEBHOOK_SECRET_OVERLAP_SECONDS: how long a rotated-out secret still signs. */
  secretOverlapSeconds: number
  /** Whether a subscription's owner may (still) receive an event: payloads are shown only then. */
  audience: AudienceCheck
}

export function createWebhookService({
  db,
  dbRead,
  cache,
  repo,
  jobs,
  allowPrivate,
  maxPerUser,
  secretOverlapSeconds,
  audience,
  audit,
}: WebhookServiceDeps) {
  const isAdmin = (p: Principal) => can(p, 'admin')

  const assertSafeUrl = async (url: string) => {
    if (!(await isAllowedTarget(new URL(url), allowPrivate))) {
      throw withDetails(new UnsafeWebhookUrlError(), [{ field: 'url', message: 'must resolve to public addresses only' }])
    }
  }

  /**
   * A delivery as its reader sees it: the payload only while the subscription's owner is in the
   * event's audience (with its current role); a demoted, disabled or deleted owner's deliveries show none.
   */
  async function shown(ownerId: string, row: DeliveryRow): Promise<Delivery> {
    const payload = row.payload as DeliveryBody | null
    const visible = payload !== null && (await audience(ownerId, { type: row.event, data: payload.data })) === null
    return toDelivery({ ...row, payload: visible ? payload : null })
  }

  /** The subscription, if the caller may see it (its owner or an admin); 404 otherwise, so ids don't leak. */
  async function visible(principal: Principal, id: string, handle: Db = dbRead): Promise<WebhookRow> {
    const row = await repo.findById(handle, id)
    if (!row || (row.ownerId !== principal.id && !isAdmin(principal))) throw new WebhookNotFoundError()
    return row
  }

  return {
    async create(principal: Principal, input: CreateWebhookInput): Promise<WebhookCreated> {
      await assertSafeUrl(input.url)
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

    /**
     * PATCH: a new URL (the SSRF guard applies), events, paused or resumed. Resuming (`active: true`)
     * also re-enables a subscription Keel disabled and starts its failure count again; what was
     * skipped while inactive is not sent. `versions` from If-Match (412 when it moved on).
     */
    async update(principal: Principal, id: string, input: UpdateWebhookInput, versions?: number[]): Promise<Webhook> {
      const current = await visible(principal, id, db)
      if (versions && !versions.includes(current.version)) throw new StaleWebhookError()
      if (input.url !== undefined) await assertSafeUrl(input.url)
      const changes: WebhookChanges = {
        ...(input.url === undefined ? {} : { url: input.url }),
        ...(input.events === undefined ? {} : { events: input.events }),
        ...(input.active === undefined ? {} : { active: input.active, disabledReason: null }),
        ...(input.active ? { consecutiveFailures: 0 } : {}),
      }
      const row = await db.transaction(async (tx) => {
        const updated = await repo.update(tx, id, changes, versions)
        if (!updated) throw versions ? new StaleWebhookError() : new WebhookNotFoundError()
        const fields = Object.keys(input).filter((k) => input[k as keyof UpdateWebhookInput] !== undefined)
        await audit.record(tx, {
          action: 'webhook.updated',
          subject: { type: 'webhook', id },
          account: current.ownerId,
          details: { fields },
        })
        return updated
      })
      await cache.invalidateCounts(WEBHOOK_COUNT_NAMESPACE)
      return toWebhook(row)
    },

    /**
     * A new signing secret, shown once. The previous one keeps signing (a second `v1,` signature)
     * for WEBHOOK_SECRET_OVERLAP_SECONDS, so receivers can switch without losing a delivery. The
     * owner's only: whoever holds the secret can sign deliveries its receiver trusts.
     */
    async rotateSecret(principal: Principal, id: string, versions?: number[]): Promise<WebhookSecret> {
      const current = await visible(principal, id, db)
      if (current.ownerId !== principal.id) throw new RotateOthersSecretError()
      if (versions && !versions.includes(current.version)) throw new StaleWebhookError()
      const secret = newSecret()
      const row = await db.transaction(async (tx) => {
        const rotated = await repo.rotateSecret(tx, id, secret, new Date(Date.now() + secretOverlapSeconds * 1000), versions)
        if (!rotated) throw versions ? new StaleWebhookError() : new WebhookNotFoundError()
        await audit.record(tx, { action: 'webhook.secret_rotated', subject: { type: 'webhook', id } })
        return rotated
      })
      return { ...toWebhook(row), secret }
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
      const webhook = await visible(principal, id)
      // The page and its total at once. A keyset page has no total: counting is what cursor pagination exists to avoid.
      const [rows, total] = await Promise.all([
        repo.listDeliveries(dbRead, id, filters, list),
        list.cursor
          ? undefined
          : cache.count(DELIVERY_COUNT_NAMESPACE, { webhookId: id, ...filters }, () => repo.countDeliveries(dbRead, id, filters)),
      ])
      const page = toPage(rows, list, (row) => row, total)
      return { items: await Promise.all(page.items.map((row) => shown(webhook.ownerId, row))), meta: page.meta }
    },

    async delivery(principal: Principal, id: string, deliveryId: string): Promise<Delivery> {
      const webhook = await visible(principal, id)
      const row = await repo.findDelivery(dbRead, id, deliveryId)
      if (!row) throw new DeliveryNotFoundError()
      return shown(webhook.ownerId, row)
    },

    /** Every request sent for a delivery, oldest first: when, the answer, how long, why it failed, the start of the body. */
    async attempts(principal: Principal, id: string, deliveryId: string): Promise<DeliveryAttempt[]> {
      await visible(principal, id)
      if (!(await repo.findDelivery(dbRead, id, deliveryId))) throw new DeliveryNotFoundError()
      return (await repo.listAttempts(dbRead, deliveryId)).map(toAttempt)
    },

    /**
     * Send a past delivery's payload again, as a new delivery of the same event (the original keeps
     * its record). Whether the owner may still receive it is checked when it is attempted.
     */
    async replay(principal: Principal, id: string, deliveryId: string): Promise<Delivery> {
      const webhook = await visible(principal, id, db)
      const original = await repo.findDelivery(db, id, deliveryId)
      if (!original) throw new DeliveryNotFoundError()
      // What the owner may not be shown, it may not have sent again either.
      if ((await shown(webhook.ownerId, original)).payload === null) throw new DeliveryNotReplayableError()
      const replayId = newId()
      await db.transaction(async (tx) => {
        await repo.insertDeliveries(tx, [
          {
            id: replayId,
            webhookId: id,
            eventId: original.eventId,
            event: original.event,
            payload: original.payload,
            replayOf: original.id,
          },
        ])
        await jobs.insert([{ name: DELIVER_QUEUE, data: { deliveryId: replayId }, group: webhook.ownerId }], { tx })
      })
      await invalidateDeliveryCounts(cache)
      return shown(webhook.ownerId, (await repo.findDelivery(db, id, replayId))!)
    },
  }
}

export type WebhookService = ReturnType<typeof createWebhookService>
