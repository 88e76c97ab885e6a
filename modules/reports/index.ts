// The reports module: request a report (202 + Location), poll it, download it; jobs.ts builds it.
// Encapsulated: its schemas and routes stay in its own context; it decorates nothing on the root.
import fp from 'fastify-plugin'
import { createReportRepository } from './repository.js'
import { reportRoutes } from './routes.js'
import { reportSchemas } from './schemas.js'
import { createReportService } from './service.js'

export default fp(
  async (app) => {
    for (const schema of reportSchemas) app.addSchema(schema)
    const service = createReportService({
      db: app.db,
      dbRead: app.dbRead,
      repo: createReportRepository(),
      jobs: app.jobs,
      prefix: app.prefix,
    })
    reportRoutes(app, service)
  },
  { fastify: '5.x', name: 'reports-module', dependencies: ['auth', 'queue', 'rate-limit'], encapsulate: true },
)
