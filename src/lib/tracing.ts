// What Keel's own code needs from OpenTelemetry, through its API only (the SDK is loaded by
// src/app/instrumentation.ts when tracing is configured). With no SDK every helper here is a no-op
// that allocates nothing: `tracingOn` is decided once, when first asked (after the SDK has started).
import {
  context,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span,
} from '@opentelemetry/api'

export { SpanKind, type Span }

const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate()
let on: boolean | undefined

/** Whether an SDK registered a tracer provider (tracing is on). */
export function tracingOn(): boolean {
  if (on === undefined) {
    const provider = trace.getTracerProvider()
    on = (provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider) !== NOOP_PROVIDER
  }
  return on
}

export const tracer = () => trace.getTracer('keel')

/** The W3C trace context of the active span (`traceparent`, `tracestate`), to store with work done later. */
export type TraceCarrier = Record<string, string>

export function traceCarrier(): TraceCarrier | undefined {
  if (!tracingOn() || !trace.getActiveSpan()) return undefined
  const carrier: TraceCarrier = {}
  propagation.inject(context.active(), carrier)
  return carrier.traceparent ? carrier : undefined
}

/** Fields for every log line written inside a span (the pino mixin): trace_id and span_id. */
export function traceLogFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan()
  if (!span) return {}
  const { traceId, spanId } = span.spanContext()
  return { trace_id: traceId, span_id: spanId }
}

/** Mark a span failed by this error. */
export function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err))
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) })
  const code = (err as { code?: unknown } | null)?.code
  span.setAttribute('error.type', typeof code === 'string' ? code : err instanceof Error ? err.name : 'Error')
}

/**
 * Run `fn` in a span of its own, a child of the active span, or of `parent` (a stored trace context)
 * when the active span is in another trace; ended when `fn` settles, failed when it throws. Without
 * tracing: just `fn()`.
 */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; parent?: TraceCarrier },
  fn: (span?: Span) => Promise<T>,
): Promise<T> {
  if (!tracingOn()) return fn()
  let parent = context.active()
  const links: Link[] = []
  if (options.parent) {
    // Under the active span when it is in the stored trace already; else in the stored trace, linked to the active one.
    const stored = propagation.extract(ROOT_CONTEXT, options.parent)
    const storedTrace = trace.getSpanContext(stored)?.traceId
    const active = trace.getSpanContext(parent)
    if (active?.traceId !== storedTrace) {
      if (active) links.push({ context: active })
      parent = stored
    }
  }
  const spanOptions = { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes, links }
  return tracer().startActiveSpan(name, spanOptions, parent, async (span) => {
    try {
      return await fn(span)
    } catch (err) {
      failSpan(span, err)
      throw err
    } finally {
      span.end()
    }
  })
}

/** Export what is buffered (at shutdown: the last spans are not lost). */
export async function flushTraces(): Promise<void> {
  if (!tracingOn()) return
  const provider = trace.getTracerProvider() as ProxyTracerProvider
  await (provider.getDelegate() as { forceFlush?: () => Promise<void> }).forceFlush?.()
}
