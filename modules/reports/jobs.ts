// Reports' queues: build-report (the worker), its dead-letter queue (marks the report failed), and
// reports.nightly-sales (cron, 00:10 UTC: yesterday's sales for every order, CSV, for admins).
import { Type } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'
import { defineJob, type JobDefinition } from '../../plugins/queue/index.js'
import { modulePath } from '../../src/lib/urls.js'
import { createReportRepository } from './repository.js'
import { BuildReportJob } from './schemas.js'
import { BUILD_REPORT_DEAD_QUEUE, BUILD_REPORT_QUEUE, createReportBuilder, createReportService } from './service.js'

export const NIGHTLY_SALES_QUEUE = 'reports.nightly-sales'

export default (app: FastifyInstance): JobDefinition[] => {
  const repo = createReportRepository()
  const prefix = modulePath('reports')
  const builder = createReportBuilder({ db: app.db, repo, events: app.events, orders: app.orders, prefix })
  const service = createReportService({ db: app.db, dbRead: app.db, repo, jobs: app.jobs, prefix })
  return [
    defineJob({
      name: BUILD_REPORT_DEAD_QUEUE,
      schema: BuildReportJob,
      queue: { retryLimit: 3 },
      handler: async ({ reportId }) => builder.giveUp(reportId),
    }),
    defineJob({
      name: BUILD_REPORT_QUEUE,
      schema: BuildReportJob,
      queue: { retryLimit: 2, expireInSeconds: 600, deadLetter: BUILD_REPORT_DEAD_QUEUE },
      handler: async ({ reportId }, { isFinalAttempt }) => {
        try {
          return await builder.build(reportId)
        } catch (err) {
          // The queue logs the cause; the requester reads a fixed message (the cause may be SQL text).
          if (isFinalAttempt) await builder.giveUp(reportId)
          throw err
        }
      },
    }),
    defineJob({
      name: NIGHTLY_SALES_QUEUE,
      schema: Type.Object({}),
      // boss.schedule is keyed by name: every instance may declare it, one job runs per tick.
      schedule: { cron: '10 0 * * *' },
      queue: { retryLimit: 2 },
      handler: async (_data, { log }) => {
        const today = new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00.000Z')
        const yesterday = new Date(today.getTime() - 86_400_000)
        const report = await service.request(null, { type: 'sales', format: 'csv', from: yesterday.toISOString(), to: today.toISOString() })
        log.info({ reportId: report.id }, 'nightly sales report requested')
        return { reportId: report.id }
      },
    }),
  ]
}
