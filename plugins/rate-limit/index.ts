// Rate limiting on @fastify/rate-limit with Keel's own stores (sliding log, fixed window, token
// bucket; Redis Lua when REDIS_URL is set, in-process otherwise). Callers are keyed by API key,
// else user id, else client IP; routes pick a policy in `config.rateLimit` (see README.md here).
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { defineError } from '../../src/lib/errors.js'
import { errorResponses } from '../../src/lib/envelope.js'
import type { Principal } from '../../src/lib/permissions.js'
import type { Strategy } from './limiters.js'
import { createLoginFailures, unlimitedLoginFailures } from './login-failures.js'
import { createStoreClass, RateLimitUnavailableError } from './store.js'

export { STRATEGIES, type Strategy } from './limiters.js'
export type { LoginAttempt, LoginFailures } from './login-failures.js'

/** What a route may put in `config.rateLimit` on top of @fastify/rate-limit's own options. */
export interface KeelRateLimitOptions {
  /** Default RATE_LIMIT_STRATEGY. */
  strategy?: Strategy
  /** Token bucket only: tokens added per second (default max / timeWindow, a full refill per window). */
  refillPerSecond?: number
  /** Who shares a budget: 'caller' (default: API key, else user, else IP) or 'ip'. */
  keyBy?: 'caller' | 'ip'
  /** A second, independent limit keyed on this body field (e.g. 'email'), same max and window. */
  alsoByBodyField?: string
  /** A named policy resolved from config at startup (see rateLimitPolicies). */
  preset?: keyof typeof rateLimitPolicies
  /** Store key namespace; default the route (method + url), or the groupId. */
  namespace?: string
}

declare module '@fastify/rate-limit' {
  // The plugin merges a route's config into the params its store's child() receives.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface CreateRateLimitOptions extends KeelRateLimitOptions {}
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Rate limiter state, for metrics: backend in use, and how many requests were let through unchecked. */
    rateLimitStats(): RateLimitStats
  }
}

export interface RateLimitStats {
  enabled: boolean
  backend: 'redis' | 'memory'
  strategy: Strategy
  /** Requests let through because Redis failed (RATE_LIMIT_FAIL_OPEN=true). */
  failedOpen: number
  /** Requests refused with 503 because Redis failed (RATE_LIMIT_FAIL_OPEN=false). */
  failedClosed: number
  /** True while Redis is failing. */
  degraded: boolean
}

/**
 * Named policies for `config: { rateLimit: rateLimitPolicies.x }`. Spread to override:
 * `{ ...rateLimitPolicies.expensive, max: 5 }`. (Login and registration have budgets of their own:
 * login-failures.ts and the register route's policy.)
 */
export const rateLimitPolicies = {
  /** Costly work (reports, exports): a token bucket of 10, refilled over a minute, per caller. */
  expensive: { preset: 'expensive' },
} as const satisfies Record<string, { preset: string }>

export const RateLimitedError = defineError('RATE_LIMITED', 429, 'Rate limit exceeded')

/** A 429 thrown outside @fastify/rate-limit's own hook: the onError hook below sets its headers on the reply. */
const refusedWithHeaders = (message: string, max: number, retryMs: number) => {
  const seconds = Math.max(1, Math.ceil(retryMs / 1000))
  return Object.assign(new RateLimitedError(message), {
    rateLimitHeaders: { 'x-ratelimit-limit': max, 'x-ratelimit-remaining': 0, 'x-ratelimit-reset': seconds, 'retry-after': seconds },
  })
}

// Infrastructure routes are never limited: probes, scrapers and the docs must always answer.
const EXEMPT = /^\/(health|metrics|docs)(\/|$)/

type KeyLimit = { max?: number | null; windowSeconds?: number | null }

/** The authenticated caller, when the auth preHandler ran (null/undefined otherwise). */
const callerOf = (request: FastifyRequest): Principal | null => (request as unknown as { user?: Principal | null }).user ?? null

/** The API key's own limit, which the auth plugin puts on `request.apiKey` (absent: the default applies). */
function keyLimit(request: FastifyRequest): KeyLimit | undefined {
  const key = (request as unknown as { apiKey?: { rateLimit?: KeyLimit | null } | null }).apiKey
  return key?.rateLimit?.max != null ? key.rateLimit : undefined
}

const ipKey = (request: FastifyRequest) => `ip:${normalizeIP(request.ip)}`

/**
 * API key, else user, else IP: an authenticated caller is not penalised for sharing a NAT. On a route
 * that does not authenticate (a public one) the auth plugin is asked who sent valid credentials, so a
 * key or a token is limited as itself there too; invalid ones leave the caller anonymous (its IP).
 */
const callerKeyOf =
  (identify: FastifyInstance['identify']) =>
  async (request: FastifyRequest): Promise<string> => {
    const caller = callerOf(request) ?? (await identify(request))
    if (caller?.apiKeyId) return `key:${caller.apiKeyId}`
    if (caller?.id) return `user:${caller.id}`
    return ipKey(request)
  }

/** A limited route documents its 429 (OpenAPI) when it documents its responses at all. */
function documentTooManyRequests(route: RouteOptions) {
  const schema = route.schema as { response?: Record<string, unknown> } | undefined
  if (!schema?.response || schema.response[429] || schema.response['4xx']) return
  route.schema = { ...schema, response: { ...schema.response, 429: errorResponses(429)[429] } } as RouteOptions['schema']
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`
const retryIn = (ttlMs: number) => {
  const s = Math.max(1, Math.ceil(ttlMs / 1000))
  return s < 120 ? plural(s, 'second') : plural(Math.ceil(s / 60), 'minute')
}

export default fp(
  async (fastify: FastifyInstance, opts: { clock?: () => number }) => {
    const config = fastify.config
    const stats: RateLimitStats = {
      enabled: config.RATE_LIMIT_ENABLED,
      backend: fastify.redis ? 'redis' : 'memory',
      strategy: config.RATE_LIMIT_STRATEGY,
      failedOpen: 0,
      failedClosed: 0,
      degraded: false,
    }
    fastify.decorate('rateLimitStats', () => ({ ...stats }))
    if (!config.RATE_LIMIT_ENABLED) {
      fastify.decorate('loginFailures', unlimitedLoginFailures)
      return
    }

    const windowMs = config.RATE_LIMIT_WINDOW_SECONDS * 1000
    const callerKey = callerKeyOf(fastify.identify)
    const presets: Record<keyof typeof rateLimitPolicies, KeelRateLimitOptions & { max: number; timeWindow: number }> = {
      expensive: { strategy: 'token-bucket', max: 10, timeWindow: 60_000 },
    }

    // A connection of its own with auto-pipelining: the concurrent checks of one event-loop tick
    // go to Redis in one write (same timeouts and fail-fast options as fastify.redis).
    const redis = fastify.redis?.duplicate({ enableAutoPipelining: true }) ?? null
    if (redis) {
      redis.on('error', () => {}) // failures are reported per request by the store (onError below)
      // Commands are not queued while connecting: wait (briefly) for the connection before serving,
      // so the first requests are counted; a Redis that is down at start is an outage like any other.
      fastify.addHook('onReady', async () => {
        if (redis.status === 'ready') return
        let timer: NodeJS.Timeout | undefined
        await new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.max(1000, config.REDIS_COMMAND_TIMEOUT_MS * 4))
          redis.once('ready', resolve)
        })
        clearTimeout(timer)
      })
      fastify.addHook('onClose', async () => {
        await Store.close() // hits answered locally (fast path) are sent before the connection goes
        redis.disconnect()
      })
    }
    const onError = (err: Error) => {
      if (config.RATE_LIMIT_FAIL_OPEN) stats.failedOpen++
      else stats.failedClosed++
      if (stats.degraded) return
      stats.degraded = true // one warning per outage
      fastify.log.warn(
        { err: { message: err.message }, failOpen: config.RATE_LIMIT_FAIL_OPEN },
        config.RATE_LIMIT_FAIL_OPEN
          ? 'rate limiter: Redis unavailable, requests are let through unchecked'
          : 'rate limiter: Redis unavailable, requests are refused with 503',
      )
    }
    const onOk = () => {
      if (!stats.degraded) return
      stats.degraded = false
      fastify.log.info({ failedOpen: stats.failedOpen, failedClosed: stats.failedClosed }, 'rate limiter: Redis is back')
    }
    const Store = createStoreClass({
      redis,
      defaultStrategy: config.RATE_LIMIT_STRATEGY,
      clock: opts.clock,
      failOpen: config.RATE_LIMIT_FAIL_OPEN,
      onError,
      onFlushError(err) {
        // Retried; the outage itself is reported by the next failing check.
        if (!stats.degraded)
          fastify.log.warn(
            { err: { message: err.message } },
            'rate limiter: giving back unused leased units to Redis failed; retried later',
          )
      },
      onOk,
    })

    // Failed logins, per account and per client (login-failures.ts): the auth and users modules
    // reserve an attempt before checking a password and give it back when it was right.
    const loginWindowMs = config.RATE_LIMIT_LOGIN_WINDOW_SECONDS * 1000
    fastify.decorate(
      'loginFailures',
      createLoginFailures({
        redis,
        clock: opts.clock,
        failOpen: config.RATE_LIMIT_FAIL_OPEN,
        account: { max: config.RATE_LIMIT_LOGIN_ACCOUNT_MAX, windowMs: loginWindowMs },
        client: { max: config.RATE_LIMIT_LOGIN_CLIENT_MAX, windowMs: loginWindowMs },
        refused: ({ budget, max, retryMs }) =>
          refusedWithHeaders(
            `Too many failed logins ${budget === 'account' ? 'for this account' : 'from this address'}, retry in ${retryIn(retryMs)}`,
            max,
            retryMs,
          ),
        unavailable: () => new RateLimitUnavailableError(),
        onError,
        onOk,
      }),
    )
    fastify.addHook('onError', async (_request, reply, error) => {
      const headers = (error as { rateLimitHeaders?: Record<string, number> }).rateLimitHeaders
      if (headers) reply.headers(headers)
    })

    // Runs before @fastify/rate-limit's own onRoute hook: resolves presets and keyBy into plain
    // options, and exempts infrastructure routes. The route's config object is replaced, not mutated
    // (presets and config objects are shared between routes).
    fastify.addHook('onRoute', (route: RouteOptions) => {
      const current = route.config?.rateLimit
      if (current === undefined && EXEMPT.test(route.url)) {
        route.config = { ...route.config, rateLimit: false }
        return
      }
      if (current === false) return
      documentTooManyRequests(route)
      if (!current) return
      const { preset, keyBy, ...rest } = current
      const base: KeelRateLimitOptions = preset ? presets[preset] : {}
      const merged = { ...base, ...rest }
      const by = keyBy ?? base.keyBy ?? 'caller'
      route.config = {
        ...route.config,
        rateLimit: { ...merged, keyBy: by, keyGenerator: merged.keyGenerator ?? (by === 'ip' ? ipKey : callerKey) },
      }
    })

    await fastify.register(rateLimit, {
      global: true,
      // preHandler: after the route's authenticate hook, so a verified caller (user or API key) is
      // known; anonymous requests fall back to their IP (trustProxy decides what request.ip is).
      hook: 'preHandler',
      store: Store,
      max: (request) => keyLimit(request)?.max ?? config.RATE_LIMIT_MAX,
      timeWindow: (request) => (keyLimit(request)?.windowSeconds ?? 0) * 1000 || windowMs,
      keyGenerator: callerKey,
      skipOnError: config.RATE_LIMIT_FAIL_OPEN,
      errorResponseBuilder: (_request, context) => new RateLimitedError(`Rate limit exceeded, retry in ${retryIn(context.ttl)}`),
    })

    // A second limit on a body field (the auth preset's email): registered after the plugin so it
    // runs after the IP limit, and counts only requests the IP limit let through.
    fastify.addHook('onRoute', (route: RouteOptions) => {
      const options = route.config?.rateLimit
      if (!options || !options.alsoByBodyField) return
      const field = options.alsoByBodyField
      const limit = fastify.createRateLimit({
        ...options,
        namespace: `${String(route.method)} ${route.url} ${field}`,
        // Hashed: no emails (or other personal data) in Redis key names.
        keyGenerator: (request) => {
          const value = String((request.body as Record<string, unknown>)[field])
            .trim()
            .toLowerCase()
          return `${field}:${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`
        },
      })
      const hook = async (request: FastifyRequest, reply: FastifyReply) => {
        const value = (request.body as Record<string, unknown> | undefined)?.[field]
        if (typeof value !== 'string' || value === '') return
        const result = await limit(request)
        if (result.isAllowed || !result.isExceeded) return
        reply.header('x-ratelimit-limit', result.max).header('x-ratelimit-remaining', 0)
        reply.header('x-ratelimit-reset', result.ttlInSeconds).header('retry-after', result.ttlInSeconds)
        throw new RateLimitedError(`Too many attempts for this ${field}, retry in ${retryIn(result.ttl)}`)
      }
      const existing = route.preHandler
      route.preHandler = existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook]
    })
  },
  { fastify: '5.x', name: 'rate-limit', dependencies: ['config', 'redis', 'auth'] },
)
