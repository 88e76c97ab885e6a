// Webhooks module: subscriptions, signed deliveries through pg-boss (jobs.ts), replays.
// Other modules publish events through contract.ts (publishEvent), in their own transactions.
import type { FastifyPluginAsync } from 'fastify'
import { createWebhookRepository } from './repository.js'
import { createWebhookService } from './service.js'
import { webhookRoutes } from './routes.js'

const webhooks: FastifyPluginAsync = async (app) => {
  const service = createWebhookService({
    db: app.db,
    dbRead: app.dbRead,
    repo: createWebhookRepository(),
    jobs: app.jobs,
    allowPrivate: app.config.WEBHOOK_ALLOW_PRIVATE,
  })
  webhookRoutes(app, service, app.prefix)
}

export default webhooks
