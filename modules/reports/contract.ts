// Reports' public contract: the events a subscriber may listen to (report.completed, report.failed).
// Nothing else: other modules have no reason to build or read reports.
export { reportCompleted, reportFailed } from './events.js'
