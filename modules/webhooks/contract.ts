// Webhooks' public contract: publish a domain event to every subscription that wants it.
// Call it inside your own transaction (Drizzle `tx` or a postgres.js `sql.begin` handle): the
// deliveries and their jobs commit or roll back with your change.
import type { QueueTx } from '../../plugins/queue.js'
import { createWebhookRepository } from './repository.js'
import { publishEvent as publish, type PublishDeps, type WebhookEventInput } from './service.js'

export type { WebhookEventInput, PublishDeps } from './service.js'
export type { WebhookEventType } from './schemas.js'
export { WEBHOOK_EVENTS } from './tables.js'

const repo = createWebhookRepository()

/**
 * `publishEvent(app, { type: 'order.created', data, requestId: request.id }, tx?)` → the ids of the
 * deliveries created (one per matching active subscription; none is fine). `app` is the Fastify
 * instance or anything with `db` and `jobs`.
 */
// Pick the fields: `deps` is often a Fastify instance, whose decorators a spread would not copy.
export const publishEvent = (deps: PublishDeps, event: WebhookEventInput, tx?: QueueTx): Promise<string[]> =>
  publish({ db: deps.db, jobs: deps.jobs, repo }, event, tx)
