// The environment, read once and validated: a bad value stops the process naming the variable.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const Int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER, description?: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })
const Bool = (def: boolean, description?: string) => Type.Boolean({ default: def, description })
const Str = (def: string, description?: string) => Type.String({ default: def, description })
const Opt = <T extends TSchema>(schema: T) => Type.Optional(schema)

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  ROLE: Type.Union([Type.Literal('all'), Type.Literal('api'), Type.Literal('worker')], { default: 'all' }),
  HOST: Str('0.0.0.0'),
  PORT: Int(3000, 0, 65535),
  PUBLIC_URL: Opt(Type.String({ format: 'uri', pattern: '^https?://' })),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  TRUST_PROXY: Str('false'),

  DATABASE_URL: Opt(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_READ_URL: Opt(Type.String({ pattern: '^postgres(ql)?://' })),
  EMBEDDED_PG_DIR: Str('./.data/postgres'),
  EMBEDDED_PG_PORT: Int(54320, 1, 65535),
  DB_POOL_MAX: Int(10, 1, 1000),
  DB_IDLE_TIMEOUT_S: Int(30, 0),
  DB_CONNECT_TIMEOUT_S: Int(5, 1),
  DB_MAX_LIFETIME_S: Int(1800, 0),
  DB_STATEMENT_TIMEOUT_MS: Int(5000, 0),
  DB_STARTUP_RETRIES: Int(8, 0, 100),
  DB_MIGRATE: Bool(true),
  SEED_DEMO_DATA: Opt(Type.Boolean()),

  REDIS_URL: Opt(Type.String({ pattern: '^rediss?://' })),
  REDIS_KEY_PREFIX: Str('keel:'),
  REDIS_COMMAND_TIMEOUT_MS: Int(250, 10),

  CACHE_TTL_SECONDS: Int(60, 1),
  COUNT_CACHE_TTL_SECONDS: Int(10, 0),

  JWT_SECRET: Opt(Type.String({ minLength: 32 })),
  JWT_ISSUER: Str('keel'),
  JWT_AUDIENCE: Str('keel-api'),
  JWT_ACCESS_TTL_SECONDS: Int(900, 30),
  REFRESH_TOKEN_TTL_DAYS: Int(30, 1),
  API_KEY_GRACE_SECONDS: Int(86400, 0),

  CORS_ORIGINS: Str(''),
  BODY_LIMIT_BYTES: Int(1_048_576, 1024),
  REQUEST_TIMEOUT_MS: Int(30_000, 0),
  HEALTH_CHECK_TIMEOUT_MS: Int(1000, 50),
  SHUTDOWN_TIMEOUT_MS: Int(10_000, 100),

  RATE_LIMIT_ENABLED: Bool(true),
  RATE_LIMIT_FAIL_OPEN: Bool(true),

  SMTP_URL: Opt(Type.String({ pattern: '^smtps?://' })),
  MAIL_FROM: Str('Keel <no-reply@keel.local>'),
  WEBHOOK_ALLOW_PRIVATE: Bool(false),
  WEBHOOK_TIMEOUT_MS: Int(5000, 100),
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Validate an environment (process.env or a test's overrides) into a typed Config. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.keys(ConfigSchema.properties)
  const raw: Record<string, unknown> = {}
  for (const key of known) {
    const value = env[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  const converted = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, raw))
  const errors = [...Value.Errors(ConfigSchema, converted)]
  if (errors.length > 0) {
    const lines = errors.map((e) => {
      const name = e.path.replace(/^\//, '') || '(root)'
      return `  ${name}=${JSON.stringify(env[name] ?? '')}: ${e.message}`
    })
    throw new ConfigError(`Invalid configuration:\n${[...new Set(lines)].join('\n')}`)
  }
  const config = converted as Config
  if (config.NODE_ENV === 'production' && !config.JWT_SECRET) {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET="": required when NODE_ENV=production (at least 32 characters)')
  }
  return config
}

/** "a, b,,c" -> ["a", "b", "c"] */
export const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean)
