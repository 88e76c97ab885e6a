// Reports: accept a request (row + build job in one transaction), build it in the background with
// one aggregate query through orders' contract (the file and report.completed in one transaction),
// and hand the file to its requester (or an admin). No HTTP here.
import type { Db } from '../../src/db/client.js'
import type { Events } from '../../plugins/events.js'
import type { Jobs } from '../../plugins/queue/index.js'
import { can, type Principal } from '../../src/lib/permissions.js'
import { withDetails } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import { resourcePath } from '../../src/lib/urls.js'
import type { OrderContract } from '../orders/contract.js'
import { InvalidPeriodError, ReportNotFoundError, ReportNotReadyError } from './errors.js'
import { reportCompleted, reportFailed } from './events.js'
import { salesCsv, salesJson } from './render.js'
import type { ReportRepository, ReportRow } from './repository.js'
import type { CreateReportInput, Report } from './schemas.js'

export const BUILD_REPORT_QUEUE = 'build-report'
export const BUILD_REPORT_DEAD_QUEUE = 'build-report-dead'
/** What a requester reads when a build failed (the cause is logged, never shown: it may be SQL). */
export const BUILD_FAILED_MESSAGE = 'The report could not be built; request it again later'
const MAX_DAYS = 366
const DAY_MS = 86_400_000

const contentTypes = { csv: 'text/csv; charset=utf-8', json: 'application/json; charset=utf-8' } as const

/** A date (YYYY-MM-DD, UTC midnight) or a date-time. */
const moment = (value: string) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00.000Z` : value)

/** A row as the API (and the events) show it; `prefix` is the module's path, for the download link. */
function toReport(row: ReportRow, prefix: string): Report {
  return {
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
    version: row.version,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    completedAt: row.completedAt?.toISOString() ?? null,
    downloadUrl: row.status === 'completed' ? resourcePath(prefix, row.id, 'download') : null,
  }
}

export interface ReportServiceDeps {
  db: Db
  dbRead: Db
  repo: ReportRepository
  jobs: Pick<Jobs, 'send'>
  /** The module's path (`/api/v1/reports`), for download links. */
  prefix: string
}

export function createReportService({ db, dbRead, repo, jobs, prefix }: ReportServiceDeps) {
  /** The report, if the caller may see it (requester or admin); 404 otherwise. */
  async function visible(principal: Principal, id: string): Promise<ReportRow> {
    const row = await repo.get(dbRead, id)
    if (!row || (row.requesterId !== principal.id && !can(principal, 'admin'))) throw new ReportNotFoundError()
    return row
  }

  return {
    /** Admins (and the nightly schedule, `principal` null) report on every order; anybody else on their own purchases. */
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
      const row = await db.transaction(async (tx) => {
        const created = await repo.insert(tx, {
          id: newId(),
          requesterId: principal?.id ?? null,
          type: input.type,
          format: input.format ?? 'csv',
          periodFrom: from,
          periodTo: to,
          scope: !principal || can(principal, 'admin') ? 'all' : 'own',
        })
        await jobs.send(BUILD_REPORT_QUEUE, { reportId: created.id }, { tx })
        return created
      })
      return toReport(row, prefix)
    },

    async get(principal: Principal, id: string): Promise<Report> {
      return toReport(await visible(principal, id), prefix)
    },

    /** The file of a completed report; 409 REPORT_NOT_READY before that. */
    async download(principal: Principal, id: string): Promise<{ content: string; contentType: string; filename: string }> {
      const row = await visible(principal, id)
      if (row.status !== 'completed') {
        throw new ReportNotReadyError(
          row.status === 'failed'
            ? `The report failed: ${row.error ?? BUILD_FAILED_MESSAGE}`
            : `The report is ${row.status} (${row.progress}%)`,
        )
      }
      const day = (d: Date) => d.toISOString().slice(0, 10)
      return {
        content: (await repo.content(dbRead, id)) ?? '',
        contentType: contentTypes[row.format],
        filename: `${row.type}-${day(row.periodFrom)}-${day(row.periodTo)}.${row.format}`,
      }
    },
  }
}

export type ReportService = ReturnType<typeof createReportService>

export interface ReportBuilderDeps {
  db: Db
  repo: ReportRepository
  events: Pick<Events, 'publish'>
  orders: Pick<OrderContract, 'salesByDay'>
  prefix: string
}

/** What the build-report worker runs: each outcome is written with its event, in one transaction. */
export function createReportBuilder({ db, repo, events, orders, prefix }: ReportBuilderDeps) {
  return {
    async build(reportId: string): Promise<{ status: 'completed' | 'skipped' }> {
      if (!(await repo.start(db, reportId))) return { status: 'skipped' }
      const row = (await repo.get(db, reportId))!
      const rows = await orders.salesByDay({
        from: row.periodFrom,
        to: row.periodTo,
        ...(row.scope === 'own' && row.requesterId ? { userId: row.requesterId } : {}),
      })
      await repo.progress(db, reportId, 70)
      const content = row.format === 'csv' ? salesCsv(rows) : salesJson({ from: row.periodFrom, to: row.periodTo, scope: row.scope }, rows)
      return db.transaction(async (tx) => {
        const completed = await repo.complete(tx, reportId, content, rows.length)
        if (!completed) return { status: 'skipped' as const } // failed meanwhile (its job expired)
        await events.publish(reportCompleted, toReport(completed, prefix), { tx })
        return { status: 'completed' as const }
      })
    },

    /** Out of retries: failed (once, with report.failed), unless it finished after all. */
    async giveUp(reportId: string): Promise<void> {
      await db.transaction(async (tx) => {
        const failed = await repo.fail(tx, reportId, BUILD_FAILED_MESSAGE)
        if (failed) await events.publish(reportFailed, toReport(failed, prefix), { tx })
      })
    },
  }
}

export type ReportBuilder = ReturnType<typeof createReportBuilder>
