// The webhooks module: subscriptions to business events, their signed deliveries and replays.
// Encapsulated: its schemas and routes stay in its own context; it decorates nothing on the root.
// The workers (fan-out, delivery attempts) are its jobs.ts.
import fp from 'fastify-plugin'
import { createAudienceCheck } from './audience.js'
import { createWebhookRepository } from './repository.js'
import { webhookRoutes } from './routes.js'
import { eventTypeSchema, webhookSchemas } from './schemas.js'
import { createWebhookService } from './service.js'

export default fp(
  async (app) => {
    // The event names a subscription may ask for: every event the modules declared (events.ts).
    app.addSchema(eventTypeSchema(app.events.catalog()))
    for (const schema of webhookSchemas) app.addSchema(schema)
    const service = createWebhookService({
      db: app.db,
      dbRead: app.dbRead,
      cache: app.cache,
      repo: createWebhookRepository(),
      jobs: app.jobs,
      allowPrivate: app.config.WEBHOOK_ALLOW_PRIVATE,
      maxPerUser: app.config.WEBHOOKS_MAX_PER_USER,
      audit: app.audit,
      secretOverlapSeconds: app.config.WEBHOOK_SECRET_OVERLAP_SECONDS,
      audience: createAudienceCheck({ users: app.users, events: app.events }),
    })
    webhookRoutes(app, service)
  },
  {
    fastify: '5.x',
    name: 'webhooks-module',
    dependencies: ['auth', 'cache', 'events', 'queue', 'users-contract', 'audit-events-contract'],
    encapsulate: true,
  },
)
