// A job carries the trace context of the code that queued it (a request publishing an event, a job
// sending another), in its payload under `_trace`: pg-boss jobs have no header field. It is added
// after the payload is checked and taken off before the handler sees it, so no schema names it. Only
// with tracing on; the job's handler then runs in a span that is a child of the one that queued it.
import type { JobWithMetadata } from 'pg-boss'
import { inSpan, SpanKind, traceCarrier, type TraceCarrier } from '../../src/lib/tracing.js'

const KEY = '_trace'

/** The payload with the active trace context, when there is one (and the payload is an object). */
export function withTraceContext(data: unknown): unknown {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return data
  const carrier = traceCarrier()
  return carrier ? { ...data, [KEY]: carrier } : data
}

export type TracedJob = JobWithMetadata<unknown> & { parent?: TraceCarrier }

/** The job with its payload as it was queued, and the trace context stored with it. */
export function takeTraceContext(job: JobWithMetadata<unknown>): TracedJob {
  const data = job.data
  if (!data || typeof data !== 'object' || !(KEY in data)) return job
  const { [KEY]: parent, ...rest } = data as Record<string, unknown>
  return { ...job, data: rest, parent: parent as TraceCarrier }
}

/**
 * Run a job's handler in its span (`process <queue>`, messaging conventions), failed when it throws.
 * pg-boss (propagateContext, index.ts) runs a batch of one in its own `process` span, which continues
 * the trace that queued the job: the job's span is then its child. A larger batch runs in a span of
 * its own trace: the job's span goes back to the trace that queued it and links to the batch.
 */
export function inJobSpan<T>(queue: string, job: TracedJob, fn: () => Promise<T>): Promise<T> {
  const attributes = {
    'messaging.system': 'pg-boss',
    'messaging.operation.type': 'process',
    'messaging.destination.name': queue,
    'messaging.message.id': job.id,
    'keel.job.retry_count': job.retryCount,
  }
  return inSpan(`job ${queue}`, { kind: SpanKind.INTERNAL, parent: job.parent, attributes }, fn)
}
