// PostgreSQL: the pool and Drizzle handles on the instance; waits for the database at start
// (exponential backoff with jitter), applies migrations, and ends the pool on close. While the
// database is down or hung, requests that need it answer 503 at once (src/db/guard.ts); the outage
// and the recovery are logged once each.
import fp from 'fastify-plugin'
import { createDatabase, sessionUrl, type Database, type Db } from '../src/db/client.js'
import type { GuardStats } from '../src/db/guard.js'
import type { ReplicaState } from '../src/db/replica.js'
import { runMigrations } from '../src/db/migrate.js'
import { retry } from '../src/lib/retry.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    dbRead: Db
    sql: Database['sql']
    /** The primary's state: up (breaker closed), queries refused without reaching it, waiting for a connection. */
    dbStats(): GuardStats
    /** The read replica's state (lag, whether reads go to it); null without DATABASE_READ_URL. */
    dbReplica(): ReplicaState | null
  }
}

export interface DbPluginOptions {
  /** Skip the connection check and migrations (used by the OpenAPI export, which needs no database). */
  offline?: boolean
}

export default fp<DbPluginOptions>(
  async (fastify, { offline = false }) => {
    const { config } = fastify
    if (!config.DATABASE_URL) throw new Error('DATABASE_URL is not set (the server starts an embedded PostgreSQL when it is missing)')
    const url = config.DATABASE_URL
    const database = createDatabase(url, config, {
      onDown: (which, err) =>
        fastify.log.warn(
          { database: which, err: { code: (err as { code?: string }).code, message: err.message } },
          'database unavailable: requests that need it answer 503 until it is back',
        ),
      onUp: (which, downForMs) => fastify.log.info({ database: which, downForMs }, 'database is back'),
      onReplicaChange: (state, err) =>
        state.serving
          ? fastify.log.info({ lagSeconds: state.lagSeconds }, 'replica is back: reads go to it again')
          : fastify.log.warn(
              { up: state.up, lagSeconds: state.lagSeconds, ...(err ? { err: { message: err.message } } : {}) },
              'replica down or too far behind: reads go to the primary',
            ),
    })
    fastify.decorate('db', database.db)
    fastify.decorate('dbRead', database.read)
    fastify.decorate('sql', database.sql)
    fastify.decorate('dbStats', () => database.guard.stats())
    fastify.decorate('dbReplica', () => database.replica?.state() ?? null)
    fastify.addHook('onClose', async () => database.close())

    if (offline) return
    await retry(async () => database.sql`select 1`, {
      retries: config.DB_STARTUP_RETRIES,
      baseMs: 250,
      maxMs: 8000,
      onRetry: (err, attempt, delayMs) =>
        fastify.log.warn({ attempt, delayMs, err: { message: (err as Error).message } }, 'database not reachable yet, retrying'),
    })
    if (config.DB_MIGRATE) {
      // Over a session of its own: behind a pooler in transaction mode, the advisory lock, the
      // migration and the unlock could otherwise land on different server connections.
      await runMigrations(sessionUrl(config) ?? url)
      fastify.log.debug('database migrations applied')
    }
    database.replica?.start()
  },
  { fastify: '5.x', name: 'db', dependencies: ['config'] },
)
