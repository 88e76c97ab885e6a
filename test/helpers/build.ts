// Build a ready app on its own fresh database (so test files run in parallel), closed and dropped in teardown.
import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'

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

/** A fresh, empty database; dropped in teardown. */
export async function createTestDatabase(t: Test): Promise<string> {
  const name = `keel_test_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database "${name}"`)
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
    // Tests of rate limiting pass their own (e.g. build(t, { RATE_LIMIT_AUTH_MAX: 3 })).
    RATE_LIMIT_MAX: '100000',
    RATE_LIMIT_AUTH_MAX: '1000',
  }
  for (const [k, v] of Object.entries(overrides)) env[k] = v === undefined ? undefined : String(v)
  return loadConfig(env)
}

/** A ready app on a fresh database. */
export async function build(t: Test, overrides: Overrides = {}): Promise<FastifyInstance> {
  const url = await createTestDatabase(t)
  const app = await buildApp({ config: testConfig(url, overrides), logger: false })
  // Registered after the database teardown, so it runs first (teardowns run in reverse order).
  t.teardown(() => app.close())
  await app.ready()
  return app
}
