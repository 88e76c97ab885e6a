// Spans for Keel's own queries. postgres.js has no OpenTelemetry instrumentation; the one published
// for it (otel-instrumentation-postgres, a single maintainer) patches the module's export, which Keel
// wraps twice (guard.ts, client.ts) and imports as ESM. Every Drizzle query of the pool, a transaction
// or a savepoint goes through one `unsafe(text, params)` call (client.ts), so the span is made there:
// the statement text as Drizzle wrote it (parameters are $1, $2...; their values are never recorded),
// its operation and table, the rows it returned or touched, and its error.
import type postgres from 'postgres'
import { failSpan, SpanKind, tracer, tracingOn } from '../lib/tracing.js'

const OPERATION = /^\s*(?:with\b[\s\S]*?\)\s*)?(select|insert|update|delete|with|begin|commit|rollback|savepoint|release)\b/i
const TABLE = /\b(?:from|into|update)\s+"?([a-z_][\w]*)"?(?:\."?([a-z_][\w]*)"?)?/i

/** `SELECT products`, `INSERT orders`... (semantic conventions: `{operation} {target}`). */
function describe(text: string): { operation: string; table?: string } {
  const operation = (OPERATION.exec(text)?.[1] ?? 'query').toUpperCase()
  const m = TABLE.exec(text)
  return { operation, table: m ? (m[2] ?? m[1]) : undefined }
}

/** The same lazy query, traced: a client span from now until it settles. Untouched when tracing is off. */
export function traceQuery<Q>(query: Q, text: string, server: URL): Q {
  if (!tracingOn() || !(query instanceof Promise)) return query
  const { operation, table } = describe(text)
  const span = tracer().startSpan(table ? `${operation} ${table}` : operation, {
    kind: SpanKind.CLIENT,
    attributes: {
      'db.system.name': 'postgresql',
      'db.namespace': server.pathname.slice(1),
      'db.operation.name': operation,
      ...(table ? { 'db.collection.name': table } : {}),
      'db.query.text': text,
      'server.address': server.hostname,
      'server.port': Number(server.port || 5432),
    },
  })
  // Promise.prototype.then, not the query's own (which would start it: postgres-js.ts).
  Promise.prototype.then.call(
    query,
    (result: postgres.RowList<unknown[]>) => {
      if (typeof result?.count === 'number') span.setAttribute('db.response.returned_rows', result.count)
      span.end()
    },
    (err: unknown) => {
      failSpan(span, err)
      span.end()
    },
  )
  return query
}
