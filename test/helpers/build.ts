// Build a ready app on its own fresh database (so test files run in parallel), closed and dropped in teardown.
// Each database is a copy of a template that already holds the migrations and pg-boss's schema and
// queues (CREATE DATABASE ... TEMPLATE copies files: far cheaper than migrating every test's database).
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import postgres from 'postgres'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app/app.js'
import { loadConfig, type Config } from '../../src/lib/config.js'
import { projectRoot } from '../../src/lib/paths.js'
import { validateResponses } from './openapi-validator.js'

type Test = { teardown: (fn: () => unknown) => void }
type Overrides = Partial<Record<keyof Config, string | number | boolean | undefined>>

/** The server the test databases are created on: DATABASE_URL, or the embedded one test/run.ts starts. */
export const adminUrl = (): string => {
  const url = process.env.DATABASE_URL
  if (!url) throw new Error('DATABASE_URL is not set: run the tests with `npm test`, which starts an embedded PostgreSQL')
  return url
}
export const redisUrl = (): string | undefined => process.env.REDIS_URL || undefined
export const needsRedis = 'needs a real Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379)'

const withDatabase = (url: string, name: string) => {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

/** The template's name changes with the migrations and the pg-boss version, so a stale one is never used. */
function templateName(): string {
  const hash = createHash('sha256')
  const folder = join(projectRoot, 'drizzle')
  for (const file of readdirSync(folder, { recursive: true, encoding: 'utf8' }).sort()) {
    if (file.endsWith('.sql') || file.endsWith('.json')) hash.update(file).update(readFileSync(join(folder, file)))
  }
  hash.update(readFileSync(join(projectRoot, 'node_modules', 'pg-boss', 'package.json')))
  return `keel_template_${hash.digest('hex').slice(0, 16)}`
}

const TEMPLATE_LOCK = 7_325_002 // advisory lock: one tap process builds the template, the others wait for it

/** A migrated database to copy from, built once per migration set (by whichever test process comes first). */
async function ensureTemplate(admin: postgres.Sql): Promise<string> {
  const name = templateName()
  const exists = async () => (await admin`select 1 from pg_database where datname = ${name}`).length > 0
  if (await exists()) return name
  await admin`select pg_advisory_lock(${TEMPLATE_LOCK})`
  try {
    if (await exists()) return name
    const building = `${name}_building`
    await admin.unsafe(`drop database if exists "${building}" with (force)`)
    await admin.unsafe(`create database "${building}"`)
    // The app itself applies the migrations and creates pg-boss's schema and its modules' queues.
    const app = await buildApp({
      config: testConfig(withDatabase(adminUrl(), building), { ROLE: 'api', REDIS_URL: undefined }),
      logger: false,
    })
    await app.ready()
    await app.close()
    await admin.unsafe(`alter database "${building}" rename to "${name}"`)
    return name
  } finally {
    await admin`select pg_advisory_unlock(${TEMPLATE_LOCK})`
  }
}

/** A fresh database (migrated, unless `empty`); dropped in teardown. */
export async function createTestDatabase(t: Test, { empty = false }: { empty?: boolean } = {}): Promise<string> {
  const name = `keel_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} })
  const template = empty ? undefined : await ensureTemplate(admin)
  await admin.unsafe(`create database "${name}"${template ? ` template "${template}"` : ''}`)
  t.teardown(async () => {
    await admin.unsafe(`drop database if exists "${name}" with (force)`)
    await admin.end({ timeout: 5 })
  })
  return withDatabase(adminUrl(), name)
}

/** Config for a test app: quiet, a fixed JWT secret, its own Redis key prefix, plus overrides. */
export function testConfig(databaseUrl: string, overrides: Overrides = {}): Config {
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl(),
    REDIS_KEY_PREFIX: `keel-test:${new URL(databaseUrl).pathname.slice(1)}:`,
    JWT_SECRET: 'test-secret-that-is-at-least-32-characters-long',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    JOB_RETRY_DELAY_SECONDS: '1',
    JOB_POLL_INTERVAL_SECONDS: '0.5',
    DB_POOL_MAX: '5',
    // Every inject comes from 127.0.0.1: generous limits so tests of other features never meet a 429.
    // Tests of rate limiting pass their own (e.g. build(t, { RATE_LIMIT_MAX: 3 })).
    RATE_LIMIT_MAX: '100000',
    // A test machine's event loop stalls under parallel test files; load shedding has its own test.
    LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
    // Likewise a loaded machine's PostgreSQL answers a probe slowly: with the production 1 s, the
    // breaker called a busy database down and apps failed at start (CONNECTION_CLOSED). The database
    // fault test sets the production value it measures.
    DB_PROBE_TIMEOUT_MS: '5000',
  }
  for (const [k, v] of Object.entries(overrides)) env[k] = v === undefined ? undefined : String(v)
  return loadConfig(env)
}

/**
 * Whether the tests' apps check every injected response against openapi.yaml: on, unless
 * KEEL_VALIDATE_RESPONSES=0 (to see a failing test's own assertion before the spec mismatch).
 */
export const validatingResponses = process.env.KEEL_VALIDATE_RESPONSES !== '0'

/** buildApp for tests that configure the app themselves, its injected responses held to openapi.yaml like build()'s. */
export async function buildChecked(options: Parameters<typeof buildApp>[0]): Promise<FastifyInstance> {
  const app = await buildApp(options)
  if (validatingResponses) validateResponses(app)
  return app
}

/** A ready app on a fresh database; its `inject` rejects a response the spec does not allow. */
export async function build(t: Test, overrides: Overrides = {}): Promise<FastifyInstance> {
  const url = await createTestDatabase(t)
  const app = await buildChecked({ config: testConfig(url, overrides), logger: false })
  // Registered after the database teardown, so it runs first (teardowns run in reverse order).
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/**
 * An app that touches no database or Redis, configured as `npm run openapi` builds it (for tests of
 * the spec and of plugins alone). Not ready yet: add routes, then `await app.ready()`.
 */
export async function buildOffline(t: Test, overrides: Overrides = {}): Promise<FastifyInstance> {
  const config = testConfig('postgres://offline@127.0.0.1:1/keel', { REDIS_URL: undefined, ...overrides })
  const app = await buildApp({ config, logger: false, offline: true })
  if (validatingResponses) validateResponses(app)
  t.teardown(() => app.close())
  return app
}
