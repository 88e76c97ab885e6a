// Emails module: the outbox (every email is a row and a send-email job) and its admin listing.
// Sending happens in jobs.ts (SMTP via nodemailer when SMTP_URL is set, else the log transport).
import type { FastifyPluginAsync } from 'fastify'
import { createEmailRepository } from './repository.js'
import { createEmailService } from './service.js'
import { emailRoutes } from './routes.js'

const emails: FastifyPluginAsync = async (app) => {
  emailRoutes(app, createEmailService({ dbRead: app.dbRead, repo: createEmailRepository() }))
}

export default emails
