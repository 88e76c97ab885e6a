// Apply the committed drizzle/ migrations under an advisory lock, so instances starting together don't race.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import { migrate } from 'drizzle-orm/postgres-js/migrator'
import { projectRoot } from '../lib/paths.js'

const MIGRATION_LOCK = 7_325_001 // constant key of Keel's migration advisory lock

export async function runMigrations(url: string, migrationsFolder = join(projectRoot, 'drizzle')): Promise<void> {
  if (!existsSync(join(migrationsFolder, 'meta', '_journal.json'))) return // no tables generated yet
  // One connection, so the session-level lock and the migration share a backend.
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`
    await migrate(drizzle(sql), { migrationsFolder })
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`
  } finally {
    await sql.end({ timeout: 5 })
  }
}
