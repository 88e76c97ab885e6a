// Adapts the strategies to @fastify/rate-limit's store contract: `new Store(globalParams)`,
// `child(routeParams)` once per limited route, `incr(key, cb, timeWindow, max)` per request
// answering `{ current, ttl }` (the plugin derives remaining = max - current and 429 when current > max).
import type { Redis } from 'ioredis'
import { ServiceUnavailableError } from '../../src/lib/errors.js'
import { memoryLimiter, redisLimiter, type Limiter, type Strategy } from './limiters.js'

export interface StoreContext {
  redis: Redis | null
  defaultStrategy: Strategy
  clock?: () => number
  failOpen: boolean
  /** Called on every Redis failure (before failing open or closed). */
  onError(err: Error): void
  /** Called on every Redis success (ends an outage). */
  onOk(): void
}

/** The route's fields the store reads (the plugin passes its merged params, which carry the route's config). */
interface StoreParams {
  strategy?: Strategy
  refillPerSecond?: number
  namespace?: string
  groupId?: string
  routeInfo?: { method?: string | string[]; url?: string }
}

export interface RateLimitStore {
  incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void, timeWindow: number, max: number): void
  child(params: object): RateLimitStore
}

export class RateLimitUnavailableError extends ServiceUnavailableError {
  constructor() {
    super('Rate limiting is unavailable; try again shortly')
  }
}

function namespaceOf(params: StoreParams): string {
  if (params.namespace) return params.namespace
  if (params.groupId) return `group:${params.groupId}`
  const { method, url } = params.routeInfo ?? {}
  return url ? `${String(method)} ${url}` : 'global'
}

/** A store class bound to one app's Redis client and failure policy. */
export function createStoreClass(ctx: StoreContext) {
  const limiters = new Map<string, Limiter>()
  const limiterFor = (strategy: Strategy, refillPerSecond?: number): Limiter => {
    const id = `${strategy}:${refillPerSecond ?? ''}`
    let limiter = limiters.get(id)
    if (!limiter) {
      const opts = { refillPerSecond, clock: ctx.clock }
      limiter = ctx.redis ? redisLimiter(ctx.redis, strategy, opts) : memoryLimiter(strategy, opts)
      limiters.set(id, limiter)
    }
    return limiter
  }

  // Keys Redis refused, until when (local ms). Exact: a refusal lasts until the window ends, the
  // oldest request leaves it or a token is due; other instances can only use budget, never free it.
  // So a client hammering past its limit costs no Redis round trip (and stays refused in an outage).
  const now = ctx.clock ?? Date.now
  const refusedUntil = new Map<string, number>()
  const refuse = (key: string, until: number) => {
    refusedUntil.delete(key)
    refusedUntil.set(key, until)
    if (refusedUntil.size > 10_000) refusedUntil.delete(refusedUntil.keys().next().value as string)
  }

  return class KeelRateLimitStore implements RateLimitStore {
    private readonly limiter: Limiter
    private readonly prefix: string

    constructor(params: object) {
      const p = params as StoreParams
      const strategy = p.strategy ?? ctx.defaultStrategy
      this.limiter = limiterFor(strategy, p.refillPerSecond)
      this.prefix = `rl:${strategy}:${namespaceOf(p)}:`
    }

    incr(key: string, cb: (err: Error | null, res?: { current: number; ttl: number }) => void, timeWindow: number, max: number): void {
      const fullKey = this.prefix + key
      const until = ctx.redis ? refusedUntil.get(fullKey) : undefined
      if (until !== undefined) {
        const left = until - now()
        if (left > 0) return cb(null, { current: max + 1, ttl: left })
        refusedUntil.delete(fullKey)
      }
      this.limiter.hit(fullKey, max, timeWindow).then(
        (hit) => {
          if (ctx.redis) ctx.onOk()
          if (hit.allowed) return cb(null, { current: max - hit.remaining, ttl: hit.resetMs })
          // Refused: one past the limit, and at least 1 ms so retry-after is never 0.
          const ttl = Math.max(1, hit.resetMs)
          if (ctx.redis) refuse(fullKey, now() + ttl)
          cb(null, { current: max + 1, ttl })
        },
        (err: Error) => {
          ctx.onError(err)
          // Fail open: the plugin runs with skipOnError and lets the request through.
          cb(ctx.failOpen ? err : new RateLimitUnavailableError())
        },
      )
    }

    child(params: object): RateLimitStore {
      return new KeelRateLimitStore(params)
    }
  }
}
