// @fastify/rate-limit's store contract — `child(routeParams)` per limited route, `incr(key, cb,
// timeWindow, max)` per request answering `{ current, ttl }`, from which the library makes the
// headers and the 429 — over the strategies of limiters.ts, with what the library's own stores lack:
// exactness across instances at few round trips (leases), a memory of refusals, and a breaker that
// applies the fail-open/closed policy.
import { LruMap } from 'toad-cache'
import { createBreaker } from '../../src/lib/breaker.js'
import { ServiceUnavailableError } from '../../src/lib/errors.js'
import { memoryLimiter, redisLimiter, type Limiter, type RedisClient, type Strategy } from './limiters.js'

/**
 * Leases: local while far from the limit, exact near it. An exact check of a key that is busy here
 * (Redis answered for it less than freshMs ago) and far from its limit (used + 1 + share ≤ max ×
 * (1 − fraction)) also counts share = min(⌊max × fraction / instances⌋, maxLease) more units, in the
 * same script call. The key's next requests are admitted here, one leased unit each, while the lease
 * is fresh (younger than freshMs and, but for the token bucket, before its reset). Every admission is
 * counted in Redis before it is made, so instances together never admit more than max; what a lease
 * leaves unused is given back once stale. Near the limit every request is one exact call, and 429s
 * only come from Redis. The default 300/min: after a key's first two requests, one call per 38.
 */
export const FAST_PATH = { fraction: 0.5, instances: 4, freshMs: 1000, retryMs: 1000, maxLease: 256 }
export type FastPathOptions = typeof FAST_PATH

interface Entry {
  bucket: boolean
  max: number
  windowMs: number
  /** Redis's last answer: units used (leased ones included), and when (local ms; -Infinity: none). */
  used: number
  at: number
  /** Leased units not used yet, when they were leased, ms to the reset then, and how to give them back. */
  lease: number
  leasedAt: number
  resetMs: number
  refund: (n: number) => Promise<void>
  /** An exact check asking for a lease is in flight (concurrent ones then ask for none). */
  leasing: boolean
}

export interface StoreContext {
  redis: RedisClient | null
  defaultStrategy: Strategy
  failOpen: boolean
  /** Every Redis failure (before failing open or closed), and every success (which ends an outage). */
  onError(err: Error): void
  onOk(): void
  /** Tuning of the leases (FAST_PATH); `false`: every check is exact. */
  fastPath?: Partial<FastPathOptions> | false
  /** Giving back a lease failed (it is retried; units never given back age out of the window). */
  onFlushError?(err: Error): void
}

/** What the store reads of the params the library passes (a route's config merged into the plugin's options). */
export interface StoreParams {
  strategy?: Strategy
  namespace?: string
}

type Callback = (err: Error | null, res?: { current: number; ttl: number }) => void

export class RateLimitUnavailableError extends ServiceUnavailableError {
  constructor() {
    super('Rate limiting is unavailable; try again shortly')
  }
}

/** Where a budget's keys live (each strategy keeps another Redis type). */
export const keyPrefix = (strategy: Strategy, namespace = 'global') => `rl:${strategy}:${namespace}:`

export function createStoreClass(ctx: StoreContext) {
  const limiters = new Map<Strategy, Limiter>()
  const limiterFor = (strategy: Strategy) => {
    if (!limiters.has(strategy)) limiters.set(strategy, ctx.redis ? redisLimiter(ctx.redis, strategy) : memoryLimiter(strategy))
    return limiters.get(strategy)!
  }

  // Refused keys: until when, and under which max (a larger one may still admit). Exact: a refusal
  // lasts until the window ends, the oldest request leaves it or a token is due, and other instances
  // can only use budget, never free it. A client hammering past its limit costs no round trip, and
  // stays refused through an outage.
  const refusedUntil = new LruMap<{ until: number; max: number }>(10_000)
  const refuse = (key: string, ms: number, max: number) => refusedUntil.set(key, { until: Date.now() + Math.max(1, ms), max })
  const refusedMs = (key: string, max: number) => {
    const refusal = refusedUntil.get(key)
    return refusal && refusal.max >= max ? Math.max(0, refusal.until - Date.now()) : 0
  }

  // After a failed check Redis is skipped (every check fails at once) and PINGed each second until it answers.
  const breaker = ctx.redis ? createBreaker({ probe: () => ctx.redis!.ping(), timeoutMs: 1000, intervalMs: 1000 }) : null

  const fast: FastPathOptions | null = ctx.redis && ctx.fastPath !== false ? { ...FAST_PATH, ...ctx.fastPath } : null
  // A map, not an LRU: a key's unused lease is given back before it is forgotten.
  const entries = new Map<string, Entry>()
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const fresh = (e: Entry) => {
    const age = Date.now() - e.leasedAt
    return age >= 0 && age < fast!.freshMs && (e.bucket || age < e.resetMs) // a bucket only fills up past its reset
  }
  const giveBack = (e: Entry): Promise<void> => {
    const { lease, refund } = e
    e.lease = 0
    if (!lease) return Promise.resolve()
    return refund(lease).then(
      () => {
        breaker?.reset()
        ctx.onOk()
      },
      (err: Error) => {
        breaker?.suspect()
        ctx.onFlushError?.(err)
        if (!closed) setTimeout(() => void refund(lease).catch(() => {}), fast!.retryMs).unref()
      },
    )
  }
  const sweep = () => {
    timer = undefined
    let out = false
    for (const e of entries.values()) {
      if (e.lease > 0 && !fresh(e)) void giveBack(e)
      else if (e.lease > 0) out = true
    }
    if (out) schedule()
  }
  const schedule = () => {
    if (timer || !fast || closed) return
    timer = setTimeout(sweep, Math.max(10, fast.freshMs / 4)).unref()
  }
  const entryFor = (key: string, bucket: boolean, max: number, windowMs: number): Entry => {
    let e = entries.get(key)
    if (e && (e.max !== max || e.windowMs !== windowMs)) {
      void giveBack(e) // leased under another limit
      e = undefined
    }
    if (!e) {
      e = {
        bucket,
        max,
        windowMs,
        used: 0,
        at: -Infinity,
        lease: 0,
        leasedAt: -Infinity,
        resetMs: 0,
        refund: async () => {},
        leasing: false,
      }
      entries.delete(key)
      entries.set(key, e)
      if (entries.size > 10_000) {
        const [oldest, old] = entries.entries().next().value!
        entries.delete(oldest)
        void giveBack(old)
      }
    }
    return e
  }
  /** A local answer from the key's lease; null: check exactly. */
  const take = (e: Entry | undefined, max: number, windowMs: number) => {
    if (!e || e.lease <= 0 || e.max !== max || e.windowMs !== windowMs || !fresh(e)) return null
    e.lease--
    return { current: e.used - e.lease, ttl: Math.max(0, e.resetMs - (Date.now() - e.leasedAt)) }
  }
  /** The lease to ask for with an exact check: only for a busy key, far from its limit. */
  const leaseFor = (e: Entry, max: number) => {
    const share = Math.min(fast!.maxLease, Math.floor((max * fast!.fraction) / fast!.instances))
    const busy = Date.now() - e.at < fast!.freshMs
    return share > 0 && busy && !e.leasing && e.used + 1 + share <= max * (1 - fast!.fraction) ? share : 0
  }

  return class KeelRateLimitStore {
    private readonly limiter: Limiter
    private readonly bucket: boolean
    private readonly prefix: string

    /** How long a key (prefix included) is still known to be refused under `max`; 0: not known. */
    static refusedMs = refusedMs

    /** Gives back every unused lease now. */
    static flush(): Promise<void> {
      clearTimeout(timer)
      timer = undefined
      return Promise.all([...entries.values()].map(giveBack)).then(() => {})
    }

    /** Before the Redis connection closes: leases given back, no timers or retries after. */
    static close(): Promise<void> {
      const flushed = KeelRateLimitStore.flush()
      closed = true
      breaker?.stop()
      return flushed
    }

    constructor({ strategy = ctx.defaultStrategy, namespace }: StoreParams) {
      this.limiter = limiterFor(strategy)
      this.bucket = strategy === 'token-bucket'
      this.prefix = keyPrefix(strategy, namespace)
    }

    /** The library passes a route's merged options (typed there as RouteOptions). */
    child(params: object) {
      return new KeelRateLimitStore(params)
    }

    incr(key: string, cb: Callback, windowMs: number, max: number): void {
      const full = this.prefix + key
      const refused = refusedMs(full, max)
      if (refused > 0) return cb(null, { current: max + 1, ttl: refused })
      const e = fast ? entryFor(full, this.bucket, max, windowMs) : undefined
      const local = take(e, max, windowMs)
      if (local) return cb(null, local)

      const lease = e ? leaseFor(e, max) : 0
      if (e && lease) e.leasing = true
      const hit = breaker?.isOpen
        ? Promise.reject(new Error('Redis unavailable (skipped for a moment after a failure)'))
        : this.limiter.hit(full, max, windowMs, lease)
      hit.then(
        (h) => {
          if (e) {
            if (lease) e.leasing = false
            e.used = max - h.remaining
            e.at = Date.now()
            if (h.granted) {
              void giveBack(e) // what is left of an earlier lease
              Object.assign(e, { lease: h.granted, refund: h.refund, leasedAt: e.at, resetMs: h.resetMs })
              schedule()
            }
          }
          if (ctx.redis) ctx.onOk()
          if (h.allowed) {
            // The last unit (fixed, sliding): refused until the reset, known now rather than at the next request.
            if (h.remaining === 0 && !h.granted && !this.bucket) refuse(full, h.resetMs, max)
            return cb(null, { current: max - h.remaining - h.granted, ttl: h.resetMs })
          }
          // Refused, but a concurrent check leased units here for this key: use one.
          const leased = take(e, max, windowMs)
          if (leased) return cb(null, leased)
          refuse(full, h.resetMs, max)
          cb(null, { current: max + 1, ttl: Math.max(1, h.resetMs) }) // retry-after is never 0
        },
        (err: Error) => {
          if (e) {
            if (lease) e.leasing = false
            e.at = -Infinity // no lease until Redis answers again
          }
          breaker?.trip(err)
          ctx.onError(err)
          cb(ctx.failOpen ? err : new RateLimitUnavailableError()) // open: the plugin runs with skipOnError
        },
      )
    }
  }
}
