// The emails module: the outbox (every email is a row and a send-email job) and its admin listing.
// Sending happens in jobs.ts (SMTP via nodemailer when SMTP_URL is set, else the log transport).
// Encapsulated: its schemas and routes stay in its own context; it decorates nothing on the root.
import fp from 'fastify-plugin'
import { createEmailRepository } from './repository.js'
import { emailRoutes } from './routes.js'
import { emailSchemas } from './schemas.js'
import { createEmailService } from './service.js'

export default fp(
  async (app) => {
    for (const schema of emailSchemas) app.addSchema(schema)
    emailRoutes(app, createEmailService({ dbRead: app.dbRead, cache: app.cache, repo: createEmailRepository() }))
  },
  { fastify: '5.x', name: 'emails-module', dependencies: ['auth', 'cache'], encapsulate: true },
)
