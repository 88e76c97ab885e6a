// Emails' queues: send-email (one attempt per job; exponential backoff; EMAIL_MAX_ATTEMPTS in all)
// and its dead-letter queue, which marks the outbox row failed.
import type { FastifyInstance } from 'fastify'
import { onEvent } from '../../plugins/events.js'
import { defineJob, type JobDefinition } from '../../plugins/queue/index.js'
import { orderCreated } from '../orders/contract.js'
import { findUserEmail, userRegistered } from '../users/contract.js'
import { createEmailRepository } from './repository.js'
import { SendEmailJob } from './schemas.js'
import { createEmailSender, queueEmail, SEND_EMAIL_DEAD_QUEUE, SEND_EMAIL_QUEUE } from './service.js'
import { createTransport } from './transport.js'

export default (app: FastifyInstance): JobDefinition[] => {
  const transport = createTransport(app.config.SMTP_URL, app.log)
  app.addHook('onClose', async () => transport.close())
  const sender = createEmailSender({ db: app.db, repo: createEmailRepository(), transport, from: app.config.MAIL_FROM })
  const repo = createEmailRepository()
  return [
    // Subscribers: business events that send an email.
    onEvent(userRegistered, {
      name: 'emails.welcome',
      handler: async ({ data: user }) =>
        queueEmail({ db: app.db, jobs: app.jobs, repo }, { to: user.email, template: 'welcome', data: { name: user.name } }),
    }),
    onEvent(orderCreated, {
      name: 'emails.order-confirmation',
      handler: async ({ data: order }) => {
        const to = await findUserEmail(app.db, order.userId)
        if (!to) return { skipped: 'the buyer is gone' }
        const items = order.items.map((i) => ({ name: i.productName, quantity: i.quantity, unitPriceCents: i.unitPriceCents }))
        return queueEmail(
          { db: app.db, jobs: app.jobs, repo },
          { to, template: 'order-confirmation', data: { orderId: order.id, totalCents: order.totalCents, items } },
        )
      },
    }),
    defineJob({
      name: SEND_EMAIL_DEAD_QUEUE,
      schema: SendEmailJob,
      queue: { retryLimit: 3 },
      handler: async ({ emailId }, { log }) => {
        await sender.giveUp(emailId)
        log.warn({ event: 'email.failed', emailId }, 'email gave up after its last attempt')
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
