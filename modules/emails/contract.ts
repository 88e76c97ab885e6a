// Emails' public contract, decorated as `app.emails`: the outbox. Most emails follow business events
// (emails' own subscribers in jobs.ts queue them); an email that carries a secret link (verify an
// address, reset a password) cannot travel in an event, so its module queues it here, in the
// transaction that creates the token.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createEmailRepository } from './repository.js'
import { createEmailOutbox } from './service.js'

export type { Email } from './schemas.js'
export type { QueueEmailInput } from './service.js'

export function createEmailsContract(app: FastifyInstance) {
  return createEmailOutbox({ db: app.db, cache: app.cache, jobs: app.jobs, repo: createEmailRepository() })
}

export type EmailsContract = ReturnType<typeof createEmailsContract>

declare module 'fastify' {
  interface FastifyInstance {
    emails: EmailsContract
  }
}

export default fp(
  async (app) => {
    app.decorate('emails', createEmailsContract(app))
  },
  { fastify: '5.x', name: 'emails-contract', dependencies: ['db', 'cache', 'queue'] },
)
