// The PostgreSQL server tests and benchmarks create their databases on: DATABASE_URL when set,
// else an embedded one in .data/test-postgres (a fresh machine needs nothing installed).
import { startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js'

export async function ensureDatabaseServer(env: NodeJS.ProcessEnv): Promise<{ url: string; stop: () => Promise<void> }> {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, stop: async () => {} }
  console.log('DATABASE_URL not set: starting an embedded PostgreSQL in .data/test-postgres (port 54329)')
  const embedded = await startEmbeddedPostgres({ dir: '.data/test-postgres', port: 54329, database: 'postgres' })
  return { url: embedded.url, stop: embedded.stop }
}
