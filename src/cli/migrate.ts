// `node dist/src/cli/migrate.js` (`npm run migrate`): apply the committed drizzle/ migrations and
// exit, for the one-shot migration step of a deployment (the compose `migrate` service, the
// Kubernetes migration Job) ahead of instances started with DB_MIGRATE=false. Connects straight to
// the primary (DATABASE_DIRECT_URL, else DATABASE_URL; never PgBouncer's transaction pooling): the
// migration lock is a session advisory lock. Waits for the database like a starting instance does.
import postgres from 'postgres'
import { ConfigError, loadConfig, type Config } from '../lib/config.js'
import '../lib/schemas.js' // the string formats (uri, ...) the configuration's schema uses
import { runMigrations } from '../db/migrate.js'
import { sessionUrl } from '../db/client.js'
import { retry } from '../lib/retry.js'

async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      process.exit(1)
    }
    throw err
  }
  const url = sessionUrl(config)
  if (!url) {
    console.error(
      'Invalid configuration:\n  DATABASE_DIRECT_URL (or DATABASE_URL): required, the primary directly (migrations take a session lock)',
    )
    process.exit(1)
  }
  await retry(
    async () => {
      const probe = postgres(url, { max: 1, connect_timeout: config.DB_CONNECT_TIMEOUT_S, onnotice: () => {} })
      try {
        await probe`select 1`
      } finally {
        await probe.end({ timeout: 1 })
      }
    },
    {
      retries: config.DB_STARTUP_RETRIES,
      baseMs: 250,
      maxMs: 8000,
      onRetry: (err, attempt, delayMs) =>
        console.warn(`database not reachable yet (${(err as Error).message}); attempt ${attempt} in ${delayMs} ms`),
    },
  )
  await runMigrations(url)
  console.log('migrations applied')
}

main().catch((err: unknown) => {
  console.error('migration failed:', err)
  process.exit(1)
})
