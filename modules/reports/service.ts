// Reports: accept a request (row + build job in one transaction), build it in the background with
// one aggregate query through orders' contract, and hand the file to its requester (or an admin).
import type { Db } from '../../src/db/client.js'
import { newId } from '../../src/lib/ids.js'
import { withDetails } from '../../src/lib/errors.js'
import { can, type Principal } from '../../plugins/rbac.js'
import type { Jobs } from '../../plugins/queue/index.js'
import type { OrdersContract } from '../orders/contract.js'
import type { ReportRepository, ReportRow } from './repository.js'
import type { CreateReportInput, Report } from './schemas.js'
import { InvalidPeriodError, ReportNotFoundError, ReportNotReadyError } from './errors.js'
import { salesCsv, salesJson } from './render.js'

export const BUILD_REPORT_QUEUE = 'build-report'
export const BUILD_REPORT_DEAD_QUEUE = 'build-report-dead'
const MAX_DAYS = 366
const DAY_MS = 86_400_000

export const contentTypes = { csv: 'text/csv; charset=utf-8', json: 'application/json; charset=utf-8' } as const

/** A date (YYYY-MM-DD, UTC midnight) or a date-time. */
const moment = (value: string) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00.000Z` : value)

export interface ReportServiceDeps {
  db: Db
  dbRead: Db
  repo: ReportRepository
  jobs: Pick<Jobs, 'send'>
  /** `/api/v1/reports`, for download links. */
  prefix: string
}

export function createReportService({ db, dbRead, repo, jobs, prefix }: ReportServiceDeps) {
  const toApi = (row: ReportRow): Report => ({
    id: row.id,
    requesterId: row.requesterId,
    type: row.type,
    format: row.format,
    from: row.periodFrom.toISOString(),
    to: row.periodTo.toISOString(),
    scope: row.scope,
    status: row.status,
    progress: row.progress,
    rowCount: row.rowCount,
    error: row.error,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    completedAt: row.completedAt?.toISOString() ?? null,
    downloadUrl: row.status === 'completed' ? `${prefix}/${row.id}/download` : null,
  })

  /** The report, if the caller may see it (requester or admin); 404 otherwise. */
  async function visible(principal: Principal, id: string): Promise<ReportRow> {
    const row = await repo.get(dbRead, id)
    if (!row || (row.requesterId !== principal.id && !can(principal, 'admin'))) throw new ReportNotFoundError()
    return row
  }

  return {
    /** Admins report on every order; anybody else on their own purchases. */
    async request(principal: Principal | null, input: CreateReportInput): Promise<Report> {
      const from = moment(input.from)
      const to = moment(input.to)
      if (!(to > from))
        throw withDetails(new InvalidPeriodError('`to` must be after `from`'), [{ field: 'to', message: 'must be after from' }])
      if (to.getTime() - from.getTime() > MAX_DAYS * DAY_MS) {
        throw withDetails(new InvalidPeriodError(`The period may span at most ${MAX_DAYS} days`), [
          { field: 'to', message: `at most ${MAX_DAYS} days after from` },
        ])
      }
      const scope = !principal || can(principal, 'admin') ? 'all' : 'own'
      const row = await db.transaction(async (tx) => {
        const created = await repo.insert(tx, {
          id: newId(),
          requesterId: principal?.id ?? null,
          type: input.type,
          format: input.format,
          periodFrom: from,
          periodTo: to,
          scope,
        })
        await jobs.send(BUILD_REPORT_QUEUE, { reportId: created.id }, { tx })
        return created
      })
      return toApi(row)
    },

    async get(principal: Principal, id: string): Promise<Report> {
      return toApi(await visible(principal, id))
    },

    async download(principal: Principal, id: string): Promise<{ report: Report; content: string; contentType: string; filename: string }> {
      const row = await visible(principal, id)
      if (row.status !== 'completed') {
        throw new ReportNotReadyError(
          row.status === 'failed' ? `The report failed: ${row.error ?? 'unknown error'}` : `The report is ${row.status} (${row.progress}%)`,
        )
      }
      const content = (await repo.content(dbRead, id)) ?? ''
      const day = (d: Date) => d.toISOString().slice(0, 10)
      return {
        report: toApi(row),
        content,
        contentType: contentTypes[row.format],
        filename: `${row.type}-${day(row.periodFrom)}-${day(row.periodTo)}.${row.format}`,
      }
    },
  }
}

export type ReportService = ReturnType<typeof createReportService>

/** What the build-report worker runs. */
export function createReportBuilder({ db, repo, orders }: { db: Db; repo: ReportRepository; orders: Pick<OrdersContract, 'salesByDay'> }) {
  return {
    async build(reportId: string): Promise<{ status: string }> {
      if (!(await repo.start(db, reportId))) return { status: 'skipped' }
      const row = (await repo.get(db, reportId))!
      const rows = await orders.salesByDay({
        from: row.periodFrom,
        to: row.periodTo,
        ...(row.scope === 'own' && row.requesterId ? { userId: row.requesterId } : {}),
      })
      await repo.progress(db, reportId, 70)
      const content = row.format === 'csv' ? salesCsv(rows) : salesJson({ from: row.periodFrom, to: row.periodTo, scope: row.scope }, rows)
      await repo.complete(db, reportId, content, rows.length)
      return { status: 'completed' }
    },

    async giveUp(reportId: string, error: string): Promise<void> {
      await repo.fail(db, reportId, error)
    },
  }
}
