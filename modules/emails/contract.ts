// Emails' public contract. Emails are sent by the subscribers in jobs.ts (business events, each
// once per event); the one direct call left is auth's welcome email, until it, too, becomes a
// subscriber of user.registered.
import type { FastifyInstance } from 'fastify'
import { createEmailRepository } from './repository.js'
import { createEmailOutbox } from './service.js'

/** The welcome email, queued in its own transaction. `app` is the Fastify instance. */
export const sendWelcomeEmail = (app: Pick<FastifyInstance, 'db' | 'cache' | 'jobs'>, to: string, data: { name?: string } = {}) =>
  createEmailOutbox({ db: app.db, cache: app.cache, jobs: app.jobs, repo: createEmailRepository() }).queue({
    to,
    template: 'welcome',
    data,
  })
