// Reports' typed errors.
import { defineError } from '../../src/lib/errors.js'

export const ReportNotFoundError = defineError('NOT_FOUND', 404, 'Report not found')
export const ReportNotReadyError = defineError('REPORT_NOT_READY', 409, 'The report is not ready yet', 'The report is running (70%)')
export const InvalidPeriodError = defineError('UNPROCESSABLE_ENTITY', 422, 'Invalid report period', 'The period may span at most 366 days')
