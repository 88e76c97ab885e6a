// Rate limiting: @fastify/rate-limit with Keel's stores (store.ts), in the onRequest hook. A budget
// is the caller's: the owner of a verified token or API key (a key's own limit is a part of its
// owner's budget, never in addition to it), else the client address — which a request whose
// credentials are refused spends too, and which, once spent, is answered 429 before any credential
// is looked up. Failed logins have budgets of their own (login-failures.ts). See README.md here.
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import fp from 'fastify-plugin'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import { createRedisClient } from '../../src/lib/redis.js'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { defineError } from '../../src/lib/errors.js'
import { errorResponses } from '../../src/lib/envelope.js'
import { API_KEY_HEADER, resolveJwtSecret } from '../auth.js'
import type { Strategy } from './limiters.js'
import { createLoginFailures, unlimitedLoginFailures, type LoginBudgetName } from './login-failures.js'
import { createStoreClass, keyPrefix, RateLimitUnavailableError } from './store.js'

export { STRATEGIES, type Strategy } from './limiters.js'
export type { LoginAttempt, LoginFailures } from './login-failures.js'

declare module '@fastify/rate-limit' {
  interface CreateRateLimitOptions {
    /** Default RATE_LIMIT_STRATEGY. */
    strategy?: Strategy
    /** Where the budget's keys live; set for each route with a policy (its own budget). */
    namespace?: string
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The limiter's state, for metrics: its backend, and requests let through or refused because Redis failed. */
    rateLimitStats(): RateLimitStats
  }
}

export interface RateLimitStats {
  enabled: boolean
  backend: 'redis' | 'memory'
  strategy: Strategy
  /** Requests let through unchecked because Redis failed (RATE_LIMIT_FAIL_OPEN=true). */
  failedOpen: number
  /** Requests refused with 503 because Redis failed (RATE_LIMIT_FAIL_OPEN=false). */
  failedClosed: number
  /** True while Redis is failing. */
  degraded: boolean
}

/** Policies for `config: { rateLimit: ... }` (spread to override: `{ ...rateLimitPolicies.expensive, max: 5 }`). */
export const rateLimitPolicies = {
  /** Costly work (reports, exports): a token bucket of 10 per caller, refilled over a minute. */
  expensive: { strategy: 'token-bucket', max: 10, timeWindow: 60_000 },
} as const

export const RateLimitedError = defineError('RATE_LIMITED', 429, 'Rate limit exceeded')
/** A login budget refused the attempt (the login route, and a password change that checks the current one). */
export const LoginRefusedError = defineError(
  'RATE_LIMITED',
  429,
  'Too many failed logins',
  'Too many failed logins for this account from this client, retry in 8 seconds',
)

/** A budget's key for the client address (IPv6 by /64): `keyGenerator: byAddress` limits a route per address only. */
export const byAddress = (request: FastifyRequest) => `ip:${normalizeIP(request.ip)}`

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`
const retryIn = (ms: number) => {
  const s = Math.max(1, Math.ceil(ms / 1000))
  return s < 120 ? plural(s, 'second') : plural(Math.ceil(s / 60), 'minute')
}

/** A 429 thrown outside the library's hook (a budget checked with `app.createRateLimit`): the onError hook below puts its headers on the reply. */
export const tooMany = (
  max: number,
  retryMs: number,
  error: Error = new RateLimitedError(`Rate limit exceeded, retry in ${retryIn(retryMs)}`),
) => {
  const seconds = Math.max(1, Math.ceil(retryMs / 1000))
  const headers = { 'x-ratelimit-limit': max, 'x-ratelimit-remaining': 0, 'x-ratelimit-reset': seconds, 'retry-after': seconds }
  return Object.assign(error, { rateLimitHeaders: headers })
}

const loginRefusals: Record<LoginBudgetName, string> = {
  client: 'Too many failed logins from this address',
  'client-account': 'Too many failed logins for this account from this client',
  account: 'Too many failed logins for this account from new devices',
}

// Infrastructure routes are never limited: probes, scrapers and the docs must always answer.
const EXEMPT = /^\/(health|metrics|docs)(\/|$)/

/** A limited route documents its 429 (OpenAPI) when it documents its responses at all. */
function documentTooManyRequests(route: RouteOptions) {
  const schema = route.schema as { response?: Record<string, unknown> } | undefined
  if (!schema?.response || schema.response[429] || schema.response['4xx']) return
  route.schema = { ...schema, response: { ...schema.response, 429: errorResponses(429)[429] } } as RouteOptions['schema']
}

export default fp(
  async (fastify: FastifyInstance) => {
    const { config } = fastify
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

    // A connection of its own, auto-pipelined: the checks of one event-loop tick go out in one write.
    const redis = fastify.redis ? createRedisClient(config, { enableAutoPipelining: true }) : null
    if (redis) {
      redis.on('error', () => {}) // reported per check (onError below)
      // Commands are not queued while connecting: wait (briefly) for the connection before serving.
      fastify.addHook('onReady', async () => {
        const signal = AbortSignal.timeout(Math.max(1000, config.REDIS_COMMAND_TIMEOUT_MS * 4))
        if (redis.status !== 'ready') await once(redis, 'ready', { signal }).catch(() => {})
      })
      fastify.addHook('onClose', async () => {
        await Store.close() // unused leases go back before the connection does
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
        `rate limiter: Redis unavailable, requests are ${config.RATE_LIMIT_FAIL_OPEN ? 'let through unchecked' : 'refused with 503'}`,
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
      failOpen: config.RATE_LIMIT_FAIL_OPEN,
      onError,
      onOk,
    })

    fastify.decorate(
      'loginFailures',
      createLoginFailures({
        redis,
        budgets: {
          windowMs: config.RATE_LIMIT_LOGIN_WINDOW_SECONDS * 1000,
          client: config.RATE_LIMIT_LOGIN_CLIENT_MAX,
          clientAccount: config.RATE_LIMIT_LOGIN_CLIENT_ACCOUNT_MAX,
          account: config.RATE_LIMIT_LOGIN_ACCOUNT_MAX,
          delayMs: config.RATE_LIMIT_LOGIN_DELAY_SECONDS * 1000,
        },
        secret: createHmac('sha256', resolveJwtSecret(config, fastify.log)).update('keel device cookie').digest(),
        secureCookie: config.NODE_ENV === 'production',
        failOpen: config.RATE_LIMIT_FAIL_OPEN,
        refused: ({ budget, max, retryMs }) =>
          tooMany(max, retryMs, new LoginRefusedError(`${loginRefusals[budget]}, retry in ${retryIn(retryMs)}`)),
        unavailable: () => new RateLimitUnavailableError(),
        onError,
        onOk,
      }),
    )
    fastify.addHook('onError', async (_request, reply, error) => {
      if ('rateLimitHeaders' in error) reply.headers(error.rateLimitHeaders as Record<string, number>)
    })

    const globalPrefix = keyPrefix(config.RATE_LIMIT_STRATEGY)
    /**
     * The owner's budget: the default, or for a request made with a key whose own limit is looser
     * (only an admin's may be), the key's rate over the default window. Either way one count.
     */
    const ownerMax = (request: FastifyRequest) => {
      const own = request.apiKey?.rateLimit
      const scaled = own ? Math.ceil((own.max * config.RATE_LIMIT_WINDOW_SECONDS) / own.windowSeconds) : 0
      return Math.max(config.RATE_LIMIT_MAX, scaled)
    }
    /**
     * The caller's budget in the namespace at `prefix`: the user (for a token or a key), else the
     * address. An API key sent from an address whose budget is known to be spent is refused before it
     * is looked up (a forged one cannot be told from a real one without the lookup; a bearer token is
     * checked locally first); a key whose own budget is known spent, before its owner's is counted.
     */
    const callerKey =
      (prefix: string, max: number, suffix = '') =>
      async (request: FastifyRequest) => {
        const address = byAddress(request)
        if (request.headers.authorization === undefined && request.headers[API_KEY_HEADER] !== undefined) {
          const spent = Store.refusedMs(prefix + address + suffix, max)
          if (spent) throw tooMany(max, spent)
        }
        const caller = await fastify.identify(request)
        if (!caller) return address
        const own = prefix === globalPrefix ? request.apiKey?.rateLimit : null
        const spent = own ? Store.refusedMs(`${prefix}key:${request.apiKey?.id}`, own.max) : 0
        if (own && spent) throw tooMany(own.max, spent)
        return `user:${caller.id}`
      }

    // Before the library's own onRoute hook: exempt the infrastructure routes, document the 429, and
    // give each route with a policy its own budget (its namespace) and its caller key.
    fastify.addHook('onRoute', (route: RouteOptions) => {
      const policy = route.config?.rateLimit
      if (policy === undefined && EXEMPT.test(route.url)) route.config = { ...route.config, rateLimit: false }
      if (policy === false || route.config?.rateLimit === false) return
      documentTooManyRequests(route)
      if (!policy) return
      const namespace = policy.namespace ?? (policy.groupId ? `group:${policy.groupId}` : `${String(route.method)} ${route.url}`)
      const prefix = keyPrefix(policy.strategy ?? config.RATE_LIMIT_STRATEGY, namespace)
      const max = typeof policy.max === 'number' ? policy.max : config.RATE_LIMIT_MAX
      const keyGenerator = policy.keyGenerator ?? callerKey(prefix, max, policy.groupId)
      route.config = { ...route.config, rateLimit: { ...policy, namespace, keyGenerator } }
    })

    await fastify.register(rateLimit, {
      global: true,
      hook: 'onRequest',
      store: Store,
      max: ownerMax,
      timeWindow: config.RATE_LIMIT_WINDOW_SECONDS * 1000,
      keyGenerator: callerKey(globalPrefix, config.RATE_LIMIT_MAX),
      skipOnError: config.RATE_LIMIT_FAIL_OPEN,
      errorResponseBuilder: (_request, context) => new RateLimitedError(`Rate limit exceeded, retry in ${retryIn(context.ttl)}`),
    })

    // An API key with a limit of its own spends it too, after (and on top of) its owner's budget, on
    // the routes of the general budget. The headers show whichever budget has less left.
    const keyBudget = fastify.createRateLimit({
      keyGenerator: (request) => `key:${request.apiKey?.id}`,
      max: (request) => request.apiKey?.rateLimit?.max ?? config.RATE_LIMIT_MAX,
      timeWindow: (request) => (request.apiKey?.rateLimit?.windowSeconds ?? config.RATE_LIMIT_WINDOW_SECONDS) * 1000,
    })
    const spendKeyBudget = async (request: FastifyRequest, reply: FastifyReply) => {
      if (!request.apiKey?.rateLimit) return
      const result = await keyBudget(request)
      if (result.isAllowed) return
      if (result.isExceeded) throw tooMany(result.max, result.ttl)
      if (result.remaining >= Number(reply.getHeader('x-ratelimit-remaining') ?? Infinity)) return
      reply.header('x-ratelimit-limit', result.max).header('x-ratelimit-remaining', result.remaining)
      reply.header('x-ratelimit-reset', result.ttlInSeconds)
    }
    fastify.addHook('onRoute', (route: RouteOptions) => {
      if (route.config?.rateLimit !== undefined) return // a policy of its own, or not limited
      const hooks = route.onRequest
      route.onRequest = hooks === undefined ? [spendKeyBudget] : Array.isArray(hooks) ? [...hooks, spendKeyBudget] : [hooks, spendKeyBudget]
    })
  },
  { fastify: '5.x', name: 'rate-limit', dependencies: ['config', 'redis', 'auth'] },
)
