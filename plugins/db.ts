// PostgreSQL: the pool and Drizzle handles on the instance; waits for the database at start
// (exponential backoff with jitter), applies migrations, and ends the pool on close.
import fp from 'fastify-plugin'
import { createDatabase, type Database, type Db } from '../src/db/client.js'
import { runMigrations } from '../src/db/migrate.js'
import { retry } from '../src/lib/retry.js'

declare module 'fastify' {
  interface FastifyInstance {
    db: Db
    dbRead: Db
    sql: Database['sql']
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
    const database = createDatabase(url, config)
    fastify.decorate('db', database.db)
    fastify.decorate('dbRead', database.read)
    fastify.decorate('sql', database.sql)
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
      await runMigrations(url)
      fastify.log.debug('database migrations applied')
    }
  },
  { fastify: '5.x', name: 'db', dependencies: ['config'] },
)
