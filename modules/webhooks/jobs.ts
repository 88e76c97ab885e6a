// Webhooks' queues: webhooks.fan-out (the subscriber to every business event: one delivery per
// subscription whose owner is in the event's audience), webhooks.owner-deleted (user.deleted: the
// user's subscriptions go), deliver-webhook (one attempt per job; exponential backoff;
// WEBHOOK_MAX_ATTEMPTS in all) and its dead-letter queue, which marks a delivery dead.
import type { FastifyInstance } from 'fastify'
import { onEvent, onEvents } from '../../plugins/events.js'
import { defineJob, type JobDefinition } from '../../plugins/queue/index.js'
import { userDeleted } from '../users/contract.js'
import { createAudienceCheck, createWebhookDeliverer, createWebhookSubscribers } from './delivery.js'
import { createWebhookRepository } from './repository.js'
import { DeliverJob } from './schemas.js'
import { DELIVER_DEAD_QUEUE, DELIVER_QUEUE } from './service.js'

export default (app: FastifyInstance): JobDefinition[] => {
  const { config } = app
  const deps = {
    db: app.db,
    cache: app.cache,
    repo: createWebhookRepository(),
    jobs: app.jobs,
    audience: createAudienceCheck({ users: app.users, events: app.events }),
  }
  const subscribers = createWebhookSubscribers(deps)
  const deliverer = createWebhookDeliverer({
    ...deps,
    maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    retryDelaySeconds: config.JOB_RETRY_DELAY_SECONDS,
  })
  return [
    onEvents('*', {
      name: 'webhooks.fan-out',
      batchSize: 20,
      handler: async (event) => ({ deliveries: (await subscribers.fanOut(event)).length }),
    }),
    onEvent(userDeleted, {
      name: 'webhooks.owner-deleted',
      handler: async ({ data }) => ({ deleted: await subscribers.ownerDeleted(data.userId) }),
    }),
    defineJob({
      name: DELIVER_DEAD_QUEUE,
      schema: DeliverJob,
      queue: { retryLimit: 3 },
      handler: async ({ deliveryId }, { log }) => {
        if (await deliverer.giveUp(deliveryId)) log.warn({ event: 'webhook.dead', deliveryId }, 'webhook delivery dead-lettered')
      },
    }),
    defineJob({
      name: DELIVER_QUEUE,
      schema: DeliverJob,
      // Deliveries are I/O bound: take several per poll, each settles on its own.
      batchSize: 20,
      queue: {
        retryLimit: config.WEBHOOK_MAX_ATTEMPTS - 1,
        retryBackoff: true,
        expireInSeconds: Math.ceil(config.WEBHOOK_TIMEOUT_MS / 1000) + 60,
        deadLetter: DELIVER_DEAD_QUEUE,
      },
      handler: async ({ deliveryId }, ctx) => deliverer.attempt(deliveryId, ctx),
    }),
  ]
}
