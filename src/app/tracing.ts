// The OpenTelemetry SDK, started by instrumentation.ts only when an OTLP endpoint is configured. The
// NodeSDK reads the standard OTEL_* variables (endpoint, protocol http/protobuf or http/json, service
// name, sampler, batch delays). Spans come from the maintained instrumentations: the HTTP server and
// client (so a webhook POST carries `traceparent`), @fastify/otel (a span per route, its onRequest and
// preHandler hooks: authentication and rate limiting), undici/fetch, ioredis, and pg (pg-boss's
// driver). Keel's own queries (postgres.js, which has no instrumentation) get spans in src/db/tracing.ts.
import { register } from 'node:module'
import { createAddHookMessageChannel } from 'import-in-the-middle'
import { NodeSDK } from '@opentelemetry/sdk-node'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { FastifyOtelInstrumentation } from '@fastify/otel'

/** Paths that are polled, not used: no spans (a scraper every 15 s would fill the traces). */
const UNTRACED = /^\/(health|metrics)(\/|\?|$)/

export async function startTracing(): Promise<void> {
  // Keel is ESM: the import hook lets the instrumentations patch modules imported after this one.
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel()
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions)

  const sdk = new NodeSDK({
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => UNTRACED.test(req.url ?? '') }),
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (opts: { url: string }) => UNTRACED.test(opts.url),
        instrumentHooks: ['onRequest', 'preHandler'],
      }),
      new UndiciInstrumentation(),
      new IORedisInstrumentation(),
      // pg-boss polls every queue: only its queries inside a traced operation (a publish, a job) count.
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  })
  sdk.start()
  await waitForAllMessagesAcknowledged()
}
