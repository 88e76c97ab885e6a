// Webhooks' queues: webhooks.fan-out (the subscriber to every business event: one delivery per
// subscription whose owner is in the event's audience), webhooks.owner-deleted (user.deleted: the
// user's subscriptions go), deliver-webhook (one attempt per job; exponential backoff;
// WEBHOOK_MAX_ATTEMPTS in all; WEBHOOK_CONCURRENCY workers, each job settling on its own, and at
// most WEBHOOK_CONCURRENCY_PER_OWNER of one owner's jobs at once) and its dead-letter queue, which
// marks a delivery dead.
import type { FastifyInstance } from 'fastify'
import { onEvent, onEvents } from '../../plugins/events.js'
import { defineJob, type JobDefinition } from '../../plugins/queue/index.js'
import { userDeleted } from '../users/contract.js'
import { createAudienceCheck } from './audience.js'
import { createWebhookDeliverer, createWebhookSubscribers } from './delivery.js'
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
    disableAfterFailures: config.WEBHOOK_DISABLE_AFTER_FAILURES,
    events: app.events,
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
      // Deliveries are I/O bound and a receiver may hang until the timeout: one job per worker, so each
      // settles (and its worker takes the next) on its own, never waiting for a slow one beside it. Jobs
      // are grouped by the subscription's owner: however many of one owner's receivers hang, they hold
      // at most WEBHOOK_CONCURRENCY_PER_OWNER workers, and that owner's backlog (retries included, which
      // keep their creation time) is not fetched while its slots are taken, so other owners' work is.
      batchSize: 1,
      concurrency: config.WEBHOOK_CONCURRENCY,
      groupConcurrency: config.WEBHOOK_CONCURRENCY_PER_OWNER,
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
