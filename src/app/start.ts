// Starting a process: read config, start the embedded PostgreSQL when no DATABASE_URL is given,
// build the app, listen, and shut down gracefully on SIGTERM/SIGINT. Used by server.ts and worker.ts.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, docsEnabled, loadConfig, type Config } from '../lib/config.js'
import { flushTraces } from '../lib/tracing.js'
import type { EmbeddedDatabase } from '../dev/embedded-postgres.js'

export async function start(overrides: Record<string, string> = {}): Promise<void> {
  let config: Config
  try {
    config = loadConfig({ ...process.env, ...overrides })
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      process.exit(1)
    }
    throw err
  }

  let embedded: EmbeddedDatabase | undefined
  if (!config.DATABASE_URL && config.ROLE !== 'all') {
    console.error(
      `Invalid configuration:\n  DATABASE_URL="": required with ROLE=${config.ROLE} (the embedded database belongs to a single ROLE=all process)`,
    )
    process.exit(1)
  }
  if (!config.DATABASE_URL) {
    console.log(`No DATABASE_URL: starting the embedded PostgreSQL in ${config.EMBEDDED_PG_DIR} (port ${config.EMBEDDED_PG_PORT})...`)
    // Development only: loaded when there is no DATABASE_URL, so a production process never imports it.
    const { startEmbeddedPostgres } = await import('../dev/embedded-postgres.js')
    embedded = await startEmbeddedPostgres({ dir: config.EMBEDDED_PG_DIR, port: config.EMBEDDED_PG_PORT })
    // Demo data on the embedded database, except in production (where the seed refuses to run).
    config = { ...config, DATABASE_URL: embedded.url, SEED_DEMO_DATA: config.SEED_DEMO_DATA ?? config.NODE_ENV !== 'production' }
  }

  // The embedded PostgreSQL runs in a process group of its own (Ctrl-C reaches this process only):
  // it is stopped here, after the app has drained, or when the app fails to start.
  const app = await buildApp({ config }).catch(async (err: unknown) => {
    await embedded?.stop()
    throw err
  })
  if (!config.REDIS_URL && !config.REDIS_CLUSTER_NODES && !config.REDIS_SENTINELS)
    app.log.warn(
      'No Redis (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS): cache and rate-limit counters are in-process (per instance, not shared)',
    )

  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down: draining requests and jobs')
    try {
      await app.close()
    } finally {
      await embedded?.stop()
      await flushTraces() // the spans of the last requests and jobs
    }
  })

  await app.listen({ host: config.HOST, port: config.PORT })
  const seed = config.SEED_DEMO_DATA ? (await import('../dev/seed.js')).seedDemoData : undefined
  if (seed) await seed(app)

  const base =
    config.PUBLIC_URL ??
    `http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${(app.server.address() as { port: number }).port}`
  const docs = docsEnabled(config) ? `${base}/docs` : 'off (DOCS_ENABLED=true serves it)'
  console.log(
    `\nKeel is running (ROLE=${config.ROLE})\n  API:        ${base}/api/v1\n  Swagger UI: ${docs}\n  Health:     ${base}/health/ready\n`,
  )
}

export function run(overrides?: Record<string, string>): void {
  start(overrides).catch((err: unknown) => {
    // A start that cannot work as configured says what to do in one line; anything else with its stack.
    if (err instanceof Error && err.name === 'EmbeddedPostgresError') console.error(`Keel failed to start: ${err.message}`)
    else console.error('Keel failed to start:', err)
    process.exit(1)
  })
}
