// Emails' queues: the subscribers (business events that send an email, each once per event), send-email
// (one attempt per job; exponential backoff; EMAIL_MAX_ATTEMPTS in all) and its dead-letter queue,
// which marks the outbox row failed.
import type { FastifyInstance } from 'fastify'
import { onEvent } from '../../plugins/events.js'
import { defineJob, type JobDefinition } from '../../plugins/queue/index.js'
import { orderCreated } from '../orders/contract.js'
import { userRegistered } from '../users/contract.js'
import { createEmailRepository } from './repository.js'
import { SendEmailJob } from './schemas.js'
import { createEmailSender, SEND_EMAIL_DEAD_QUEUE, SEND_EMAIL_QUEUE } from './service.js'
import { createTransport } from './transport.js'

const alreadyQueued = { skipped: 'already queued for this event' }

export default (app: FastifyInstance): JobDefinition[] => {
  const transport = createTransport(app.config.SMTP_URL, app.log, { showText: app.config.NODE_ENV !== 'production' })
  app.addHook('onClose', async () => transport.close())
  const repo = createEmailRepository()
  const outbox = app.emails
  const sender = createEmailSender({
    db: app.db,
    cache: app.cache,
    repo,
    transport,
    from: app.config.MAIL_FROM,
    reveal: (text) => app.users.revealTokens(text),
  })
  return [
    // Subscribers: business events that send an email. The event id makes a retried job a no-op.
    onEvent(userRegistered, {
      name: 'emails.welcome',
      handler: async ({ id: eventId, data: user }) =>
        (await outbox.queue({ to: user.email, template: 'welcome', data: { name: user.name }, eventId })) ?? alreadyQueued,
    }),
    onEvent(orderCreated, {
      name: 'emails.order-confirmation',
      handler: async ({ id: eventId, data: order }) => {
        const buyer = await app.users.findById(order.userId)
        if (!buyer) return { skipped: 'the buyer is gone' }
        const items = order.items.map((i) => ({ name: i.productName, quantity: i.quantity, unitPriceCents: i.unitPriceCents }))
        const data = { name: buyer.name, orderId: order.id, totalCents: order.totalCents, items }
        return (await outbox.queue({ to: buyer.email, template: 'order-confirmation', data, eventId })) ?? alreadyQueued
      },
    }),
    defineJob({
      name: SEND_EMAIL_DEAD_QUEUE,
      schema: SendEmailJob,
      queue: { retryLimit: 3 },
      handler: async ({ emailId }, { log }) => {
        await sender.giveUp(emailId)
        log.warn({ emailId }, 'email gave up after its last attempt')
      },
    }),
    defineJob({
      name: SEND_EMAIL_QUEUE,
      schema: SendEmailJob,
      batchSize: 5,
      queue: {
        retryLimit: app.config.EMAIL_MAX_ATTEMPTS - 1,
        retryBackoff: true,
        expireInSeconds: 120,
        deadLetter: SEND_EMAIL_DEAD_QUEUE,
      },
      handler: async ({ emailId }, ctx) => sender.send(emailId, ctx),
    }),
  ]
}
