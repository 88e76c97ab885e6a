// Reports module: request a report (202 + Location), poll it, download it. Built by jobs.ts.
import type { FastifyPluginAsync } from 'fastify'
import { createReportRepository } from './repository.js'
import { createReportService } from './service.js'
import { reportRoutes } from './routes.js'

const reportsModule: FastifyPluginAsync = async (app) => {
  const service = createReportService({
    db: app.db,
    dbRead: app.dbRead,
    repo: createReportRepository(),
    jobs: app.jobs,
    prefix: app.prefix,
  })
  reportRoutes(app, service, app.prefix)
}

export default reportsModule
