// Emails' public contract: queue an email from any module. The outbox row and its send-email job
// are written in the caller's transaction when one is passed (Drizzle `tx` or postgres.js `sql.begin`
// handle), so an email goes out if and only if the caller's work commits.
import type { QueueTx } from '../../plugins/queue/index.js'
import { createEmailRepository } from './repository.js'
import { queueEmail as queue, type EmailQueueDeps, type QueueEmailInput } from './service.js'

export type { QueueEmailInput, EmailQueueDeps } from './service.js'
export type { TemplateName, TemplateData, WelcomeData, OrderConfirmationData } from './templates.js'

const repo = createEmailRepository()

/**
 * Queue an email: `queueEmail(app, { to, template, data }, tx?)`. `app` is the Fastify instance
 * (or anything with `db` and `jobs`). Throws VALIDATION_ERROR when `data` does not fit the template.
 */
export const queueEmail = (deps: EmailQueueDeps, input: QueueEmailInput, tx?: QueueTx): Promise<{ id: string }> =>
  // Pick the fields: `deps` is often a Fastify instance, whose decorators a spread would not copy.
  queue({ db: deps.db, jobs: deps.jobs, repo }, input, tx)

/** The welcome email, sent on registration. */
export const sendWelcomeEmail = (deps: EmailQueueDeps, to: string, data: { name?: string } = {}, tx?: QueueTx) =>
  queueEmail(deps, { to, template: 'welcome', data }, tx)

/** The order confirmation, queued in the order's own transaction. */
export const sendOrderConfirmationEmail = (
  deps: EmailQueueDeps,
  to: string,
  data: { orderId: string; totalCents: number; currency?: string; items?: { name: string; quantity: number; unitPriceCents: number }[] },
  tx?: QueueTx,
) => queueEmail(deps, { to, template: 'order-confirmation', data }, tx)
