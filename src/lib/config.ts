// The environment, read once and validated: a bad value stops the process naming the variable.
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const Int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER, description?: string) =>
  Type.Integer({ default: def, minimum: min, maximum: max, description })
const Bool = (def: boolean, description?: string) => Type.Boolean({ default: def, description })
const Str = (def: string, description?: string) => Type.String({ default: def, description })
const Opt = <T extends TSchema>(schema: T) => Type.Optional(schema)

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development',
    description: 'Runtime mode; `production` requires JWT_SECRET',
  }),
  ROLE: Type.Union([Type.Literal('all'), Type.Literal('api'), Type.Literal('worker')], {
    default: 'all',
    description: '`all` serves HTTP and runs workers; `api` only HTTP (can enqueue); `worker` only jobs (+ health/metrics)',
  }),
  HOST: Str('0.0.0.0', 'Interface to listen on'),
  PORT: Int(3000, 0, 65535, 'HTTP port (0 picks a free one)'),
  PUBLIC_URL: Opt(
    Type.String({
      format: 'uri',
      pattern: '^https?://',
      description: 'Public base URL, e.g. https://api.example.com; listed as the OpenAPI server and printed at start',
    }),
  ),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level' },
  ),
  TRUST_PROXY: Str('false', 'Proxies whose x-forwarded-for is believed: `false`, `true`, or a comma list of IPs/CIDRs'),
  DOCS_ENABLED: Opt(Type.Boolean({ description: 'Serve Swagger UI and the spec at /docs (default: on, except with NODE_ENV=production)' })),
  METRICS_TOKEN: Opt(
    Type.String({
      minLength: 16,
      description:
        'Bearer token a Prometheus scraper sends to GET /metrics (`Authorization: Bearer <token>`); when set, /metrics refuses anyone else. With NODE_ENV=production and no token, /metrics is not served',
    }),
  ),
  METRICS_CACHE_MS: Int(
    5000,
    0,
    600_000,
    'The costly parts of /metrics (jobs by queue and state, queue lag, connections) are read from the database at most once per this long (ms)',
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: Opt(
    Type.String({
      description:
        'OpenTelemetry: the collector, e.g. http://localhost:4318 (traces go to /v1/traces). Unset = tracing off and no SDK loaded. Read by the SDK, with every other OTEL_* variable (README, "Observability")',
    }),
  ),
  OTEL_EXPORTER_OTLP_PROTOCOL: Opt(
    Type.Union([Type.Literal('http/protobuf'), Type.Literal('http/json')], {
      description: 'OpenTelemetry: OTLP encoding (default http/protobuf)',
    }),
  ),
  OTEL_SERVICE_NAME: Opt(Type.String({ description: 'OpenTelemetry: the service name on every span (e.g. keel-api, keel-worker)' })),
  OTEL_TRACES_SAMPLER: Opt(
    Type.String({
      description: 'OpenTelemetry: sampler, e.g. parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG=0.1 (default parentbased_always_on)',
    }),
  ),

  DATABASE_URL: Opt(
    Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL URL; unset = start the embedded PostgreSQL (npm start)' }),
  ),
  DATABASE_READ_URL: Opt(
    Type.String({ pattern: '^postgres(ql)?://', description: 'Optional read replica for read-only queries (fastify.dbRead)' }),
  ),
  DATABASE_DIRECT_URL: Opt(
    Type.String({
      pattern: '^postgres(ql)?://',
      description:
        'A direct (session-capable) PostgreSQL URL for what needs a session: migrations and their advisory lock, pg-boss; default DATABASE_URL. Set it when DATABASE_URL is a pooler in transaction mode',
    }),
  ),
  DB_PREPARE: Bool(
    true,
    "Run queries as prepared statements (Drizzle's and postgres.js's); set false behind a pooler that cannot keep them (PgBouncer < 1.21 in transaction mode)",
  ),
  EMBEDDED_PG_DIR: Str('./.data/postgres', 'Data directory of the embedded PostgreSQL (kept across restarts)'),
  EMBEDDED_PG_PORT: Int(54320, 1, 65535, 'Port of the embedded PostgreSQL (5432 is often taken by a system one)'),
  DB_POOL_MAX: Int(10, 1, 1000, 'Maximum connections in the pool (per instance)'),
  DB_IDLE_TIMEOUT_S: Int(30, 0, Number.MAX_SAFE_INTEGER, 'Close pooled connections idle this long (seconds)'),
  DB_CONNECT_TIMEOUT_S: Int(5, 1, Number.MAX_SAFE_INTEGER, 'Give up connecting after this long (seconds)'),
  DB_MAX_LIFETIME_S: Int(1800, 0, Number.MAX_SAFE_INTEGER, 'Recycle connections after this long (seconds; 0 = never)'),
  DB_STATEMENT_TIMEOUT_MS: Int(
    5000,
    0,
    Number.MAX_SAFE_INTEGER,
    'PostgreSQL statement_timeout per connection (0 = none); a timeout answers 503',
  ),
  DB_STALL_MS: Int(
    500,
    50,
    600_000,
    'A query (or connection attempt) waiting longer than this makes Keel probe the database; a failed probe opens the breaker',
  ),
  DB_PROBE_TIMEOUT_MS: Int(
    1000,
    50,
    60_000,
    'The database must answer a probe (`select 1` on a connection of its own) within this, or it is down: requests that need it answer 503 at once',
  ),
  DB_READ_YOUR_WRITES_SECONDS: Int(
    5,
    0,
    3600,
    "With DATABASE_READ_URL: for this long after a user's successful write, that user's reads go to the primary, so they see their own write (0 = off)",
  ),
  DB_REPLICA_MAX_LAG_SECONDS: Int(
    30,
    0,
    86_400,
    'With DATABASE_READ_URL: a replica further behind than this is skipped (reads go to the primary, readiness `degraded`) until it catches up',
  ),
  DB_REPLICA_CHECK_INTERVAL_MS: Int(
    2000,
    100,
    60_000,
    "With DATABASE_READ_URL: how often the replica's lag is checked (keel_db_replica_lag_seconds); a failed check sends reads to the primary",
  ),
  DB_PROBE_INTERVAL_MS: Int(500, 50, 60_000, 'While the database is down, probe it this often (recovery is noticed within this)'),
  DB_ACQUIRE_TIMEOUT_MS: Int(
    5000,
    10,
    600_000,
    'Longest wait for a pooled connection (all DB_POOL_MAX busy) before the request answers 503',
  ),
  DB_RECONNECT_MAX_MS: Int(500, 0, 60_000, "Cap on the pool's reconnect backoff after connection errors"),
  DB_STARTUP_RETRIES: Int(8, 0, 100, 'Connection attempts at start, with exponential backoff and jitter'),
  DB_MIGRATE: Bool(true, 'Apply drizzle/ migrations at start (under an advisory lock)'),
  SEED_DEMO_DATA: Opt(
    Type.Boolean({
      description:
        'Seed demo data when the database has no users (default: on for the embedded database, off otherwise); never with NODE_ENV=production',
    }),
  ),

  REDIS_URL: Opt(
    Type.String({
      pattern: '^rediss?://',
      description: 'Redis URL for the shared cache and rate-limit counters; unset = in-process (per instance)',
    }),
  ),
  REDIS_CLUSTER_NODES: Opt(
    Type.String({
      pattern: '^[^,\\s]+:\\d+(\\s*,\\s*[^,\\s]+:\\d+)*$',
      description:
        'A Redis Cluster instead of REDIS_URL: some of its nodes as `host:port,host:port` (the others are discovered); every Lua script names the keys of one slot',
    }),
  ),
  REDIS_SENTINELS: Opt(
    Type.String({
      pattern: '^[^,\\s]+:\\d+(\\s*,\\s*[^,\\s]+:\\d+)*$',
      description:
        'Redis behind Sentinel instead of REDIS_URL: the sentinels as `host:port,host:port`; the master (REDIS_SENTINEL_NAME) is asked of them, and asked again after a failover',
    }),
  ),
  REDIS_SENTINEL_NAME: Str('mymaster', 'The master group the sentinels watch (with REDIS_SENTINELS)'),
  REDIS_KEY_PREFIX: Str('keel:', 'Prefix of every Redis key (several apps can share one Redis)'),
  REDIS_COMMAND_TIMEOUT_MS: Int(
    250,
    10,
    Number.MAX_SAFE_INTEGER,
    'A Redis command slower than this fails fast (cache bypassed, rate limit per policy)',
  ),

  CACHE_TTL_SECONDS: Int(60, 1, Number.MAX_SAFE_INTEGER, 'Time to live of cached single resources (cache-aside)'),
  COUNT_CACHE_TTL_SECONDS: Int(10, 0, Number.MAX_SAFE_INTEGER, 'Time to live of cached list totals per filter set (invalidated on writes)'),
  CACHE_MEMORY_MAX_ENTRIES: Int(10_000, 1, 10_000_000, 'Entries kept by the in-process cache (used without REDIS_URL)'),
  IDEMPOTENCY_TTL_HOURS: Int(24, 1, 24 * 30, 'How long an Idempotency-Key is remembered for POST /orders'),

  JWT_SECRET: Opt(
    Type.String({
      minLength: 32,
      description: 'HMAC secret for access tokens (at least 32 characters); unset outside production = generated and kept in .data/',
    }),
  ),
  JWT_ISSUER: Str('keel', '`iss` of access tokens, checked on every request'),
  JWT_AUDIENCE: Str('keel-api', '`aud` of access tokens, checked on every request'),
  JWT_ACCESS_TTL_SECONDS: Int(900, 30, Number.MAX_SAFE_INTEGER, 'Lifetime of an access token (seconds)'),
  REFRESH_TOKEN_TTL_DAYS: Int(30, 1, Number.MAX_SAFE_INTEGER, 'Lifetime of a refresh token (days)'),
  API_KEY_GRACE_SECONDS: Int(86400, 0, Number.MAX_SAFE_INTEGER, 'How long a rotated API key keeps working (seconds)'),
  API_KEY_LAST_USED_INTERVAL_SECONDS: Int(60, 0, 86_400, "How often an API key's lastUsedAt is written, at most (per key, per process)"),
  SESSION_LAST_USED_INTERVAL_SECONDS: Int(
    60,
    0,
    86_400,
    "How often a session's lastUsedAt is written for requests with its access tokens, at most (per session, per process)",
  ),
  API_KEYS_MAX_PER_USER: Int(20, 1, 10_000, 'API keys one user may have at once; creating one more answers 409 API_KEY_LIMIT_REACHED'),
  EMAIL_VERIFICATION_TTL_HOURS: Int(
    48,
    1,
    24 * 30,
    'How long the link of an email verification (sign-up, resend) or of an email change stays valid (hours)',
  ),
  PASSWORD_RESET_TTL_MINUTES: Int(30, 5, 24 * 60, 'How long a password-reset link stays valid (minutes)'),
  REQUIRE_VERIFIED_EMAIL_FOR: Type.String({
    default: 'api-keys,webhooks',
    pattern: '^\\s*(none|(api-keys|webhooks)\\s*(,\\s*(api-keys|webhooks)\\s*)*)\\s*$',
    description:
      'What an account whose email is not verified may not do (403 EMAIL_NOT_VERIFIED): a comma list of `api-keys` (create one), `webhooks` (create one); `none` = nothing is refused',
  }),
  AUDIT_RETENTION_DAYS: Int(365, 1, 36_500, 'Audit events older than this many days are deleted by a daily job (audit-events.purge)'),
  AUTH_STATE_CACHE_TTL_SECONDS: Int(
    30,
    0,
    3600,
    "How long a user's role/status/token version, a session's state and an API key's lookup may be served from the cache (changes, logouts, rotations and revocations invalidate it; without Redis other instances see them after this)",
  ),

  CORS_ORIGINS: Str('', 'Comma list of allowed browser origins, `*` for any; empty = no cross-origin access'),
  BODY_LIMIT_BYTES: Int(1_048_576, 1024, Number.MAX_SAFE_INTEGER, 'Largest request body accepted (bigger: 413)'),
  REQUEST_TIMEOUT_MS: Int(30_000, 0, Number.MAX_SAFE_INTEGER, 'Time allowed to receive a whole request (0 = none)'),
  HEALTH_CHECK_TIMEOUT_MS: Int(1000, 50, Number.MAX_SAFE_INTEGER, 'Timeout of each readiness check'),
  LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS: Int(
    1000,
    0,
    Number.MAX_SAFE_INTEGER,
    'Shed load (503 with retry-after) while the mean event-loop delay over the last second exceeds this (0 = never)',
  ),
  LOAD_SHED_MAX_HEAP_USED_MB: Int(
    0,
    0,
    Number.MAX_SAFE_INTEGER,
    "Shed load while the V8 heap in use exceeds this many MiB (0 = 90% of the heap's limit, --max-old-space-size)",
  ),
  LOAD_SHED_RETRY_AFTER_SECONDS: Int(5, 1, 3600, 'retry-after of a request refused because the server is overloaded'),
  SHUTDOWN_TIMEOUT_MS: Int(10_000, 100, Number.MAX_SAFE_INTEGER, 'Bound on draining requests and running jobs at shutdown'),
  SHUTDOWN_DRAIN_DELAY_MS: Int(
    0,
    0,
    Number.MAX_SAFE_INTEGER,
    'At shutdown, readiness answers 503 for this long while requests are still served, before the server stops accepting connections: behind a load balancer, longer than its health checks take to mark the instance down (0 = stop at once; counts within SHUTDOWN_TIMEOUT_MS)',
  ),

  RATE_LIMIT_ENABLED: Bool(true, 'Turn rate limiting on or off'),
  RATE_LIMIT_FAIL_OPEN: Bool(true, 'When Redis fails: true = let requests through (logged), false = answer 503'),
  RATE_LIMIT_STRATEGY: Type.Union([Type.Literal('sliding'), Type.Literal('fixed'), Type.Literal('token-bucket')], {
    default: 'sliding',
    description: 'Default rate-limit strategy: sliding (exact sliding log), fixed (window counter) or token-bucket',
  }),
  RATE_LIMIT_MAX: Int(
    300,
    0,
    Number.MAX_SAFE_INTEGER,
    'Default requests per window per caller: a user (all its sessions and API keys together), else a client address (anonymous requests and requests whose credentials are refused)',
  ),
  RATE_LIMIT_WINDOW_SECONDS: Int(60, 1, 86_400, 'Default rate-limit window'),
  RATE_LIMIT_LOGIN_CLIENT_ACCOUNT_MAX: Int(
    10,
    1,
    Number.MAX_SAFE_INTEGER,
    'Failed logins (and wrong current passwords) for one account from one client per window: its device cookie, else its address. After 3, each attempt waits RATE_LIMIT_LOGIN_DELAY_SECONDS, doubled per further failure',
  ),
  RATE_LIMIT_LOGIN_ACCOUNT_MAX: Int(
    100,
    1,
    Number.MAX_SAFE_INTEGER,
    'Failed logins for one account per window from clients without a device cookie of it, all addresses together; then such clients are refused (429) for that account, while devices that logged in to it before keep their own budget',
  ),
  RATE_LIMIT_LOGIN_CLIENT_MAX: Int(
    100,
    1,
    Number.MAX_SAFE_INTEGER,
    'Failed logins per client address per window, whatever the accounts tried (a device cookie of the account tried is exempt). Successes never count',
  ),
  RATE_LIMIT_LOGIN_DELAY_SECONDS: Int(
    1,
    0,
    3600,
    'Growing delay: after 3 failed logins of one client on one account, its next attempt waits this long, then twice as long after each further failure (0 = none)',
  ),
  RATE_LIMIT_LOGIN_WINDOW_SECONDS: Int(900, 1, 86_400, 'Window of the failed-login budgets (sliding); the growing delay never exceeds it'),
  RATE_LIMIT_REGISTER_MAX: Int(50, 1, Number.MAX_SAFE_INTEGER, 'Registrations (POST /auth/register) per client IP per window'),
  RATE_LIMIT_REGISTER_WINDOW_SECONDS: Int(3600, 1, 86_400, 'Window of the registration budget'),

  RATE_LIMIT_EMAIL_LINK_MAX: Int(
    5,
    1,
    Number.MAX_SAFE_INTEGER,
    'Emailed links asked for one address per window (POST /auth/forgot-password, /auth/resend-verification), whether or not it has an account',
  ),
  RATE_LIMIT_EMAIL_LINK_CLIENT_MAX: Int(
    20,
    1,
    Number.MAX_SAFE_INTEGER,
    'Emailed links asked for per client address per window (POST /auth/forgot-password, /auth/resend-verification), whatever the addresses',
  ),
  RATE_LIMIT_EMAIL_LINK_WINDOW_SECONDS: Int(3600, 1, 86_400, 'Window of the emailed-link budgets'),

  JOB_RETRY_DELAY_SECONDS: Int(5, 1, 3600, 'Base delay before a failed job is retried (doubles each retry)'),
  JOB_POLL_INTERVAL_SECONDS: Type.Number({ default: 2, minimum: 0.5, maximum: 60, description: 'How often idle workers poll for jobs' }),

  SMTP_URL: Opt(
    Type.String({
      pattern: '^smtps?://',
      description: 'SMTP server (smtp:// or smtps://); unset = log transport (emails recorded as sent, not delivered)',
    }),
  ),
  EMAIL_MAX_ATTEMPTS: Int(5, 1, 50, 'Attempts per email before it is marked failed'),
  MAIL_FROM: Str('Keel <no-reply@keel.local>', 'Sender of outgoing emails'),
  WEBHOOK_ALLOW_PRIVATE: Bool(
    false,
    'Allow webhook URLs that resolve to private, loopback or link-local addresses (local development, tests); cloud metadata addresses stay refused',
  ),
  WEBHOOK_TIMEOUT_MS: Int(5000, 100, Number.MAX_SAFE_INTEGER, 'Timeout of one webhook delivery request'),
  WEBHOOK_MAX_ATTEMPTS: Int(6, 1, 50, 'Attempts per webhook delivery before it is dead-lettered'),
  WEBHOOKS_MAX_PER_USER: Int(25, 1, 10_000, 'Webhook subscriptions one user may have; one more is refused (409 WEBHOOK_LIMIT_REACHED)'),
  WEBHOOK_CONCURRENCY: Int(10, 1, 1000, 'Webhook deliveries one worker process sends at once (each settles on its own)'),
  WEBHOOK_CONCURRENCY_PER_OWNER: Int(
    2,
    1,
    1000,
    "Webhook deliveries of one owner's subscriptions in flight at once, across all workers: a slow receiver holds only its owner's slots",
  ),
  WEBHOOK_DISABLE_AFTER_FAILURES: Int(
    50,
    1,
    100_000,
    'Failed attempts in a row after which a subscription is disabled (disabledReason says why; its owner re-enables it with PATCH)',
  ),
  WEBHOOK_SECRET_OVERLAP_SECONDS: Int(
    86_400,
    0,
    30 * 86_400,
    'After a secret rotation, how long deliveries are signed with the old secret too (both signatures in webhook-signature)',
  ),
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
  if (config.REDIS_CLUSTER_NODES && config.REDIS_SENTINELS) {
    throw new ConfigError('Invalid configuration:\n  REDIS_SENTINELS: set either REDIS_CLUSTER_NODES or REDIS_SENTINELS, not both')
  }
  if (config.NODE_ENV === 'production' && !config.JWT_SECRET) {
    throw new ConfigError('Invalid configuration:\n  JWT_SECRET="": required when NODE_ENV=production (at least 32 characters)')
  }
  if (config.NODE_ENV === 'production' && config.SEED_DEMO_DATA) {
    throw new ConfigError(
      'Invalid configuration:\n  SEED_DEMO_DATA="true": the demo seed never runs with NODE_ENV=production (create an admin with `npm run create-admin -- <email>`)',
    )
  }
  return config
}

/** Whether /docs (Swagger UI and the spec) is served: DOCS_ENABLED, else on except in production. */
export const docsEnabled = (config: Pick<Config, 'DOCS_ENABLED' | 'NODE_ENV'>): boolean =>
  config.DOCS_ENABLED ?? config.NODE_ENV !== 'production'

/** "a, b,,c" -> ["a", "b", "c"] */
export const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
