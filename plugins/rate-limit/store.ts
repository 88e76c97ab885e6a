// Adapts the strategies to @fastify/rate-limit's store contract: `new Store(globalParams)`,
// `child(routeParams)` once per limited route, `incr(key, cb, timeWindow, max)` per request
// answering `{ current, ttl }` (the plugin derives remaining = max - current and 429 when current > max).
import type { Redis } from 'ioredis'
import { createBreaker } from '../../src/lib/breaker.js'
import { ServiceUnavailableError } from '../../src/lib/errors.js'
import { memoryLimiter, redisLimiter, type Hit, type Limiter, type RedisLimiter, type Strategy } from './limiters.js'
import { LruMap } from 'toad-cache'

/**
 * The Redis stores' local fast path ("local while far from the limit, exact near it"), by leases.
 * An exact check of a key that is busy here (Redis answered for it less than freshMs ago) and far
 * from its limit (used + 1 + share ≤ max × (1 − fraction)) also counts `share` more units in Redis
 * in the same script call, share = min(⌊max × fraction / instances⌋, maxLease): a lease. The next requests for
 * that key are admitted locally, each taking one leased unit, while the lease is fresh (younger
 * than freshMs and, except for the token bucket, before its reset). Every admission is thus counted
 * in Redis before it is made, so the instances together never admit more than max — a local answer
 * is never a guess about what the others did. What a lease leaves unused is given back when it goes
 * stale, so a key that goes quiet is not held back (meanwhile the others see at most `share` fewer
 * units per instance). Near the limit, for a key seen for the first time in a while, and with
 * share 0 (max below 8 with the defaults) every request is one exact Redis call; 429s only ever
 * come from Redis. The default 300/min: after a key's first two requests, one call per 38.
 */
export const FAST_PATH_DEFAULTS = {
  /** Share of max the instances together may hold in leases; leases stop when less than this is left. */
  fraction: 0.5,
  /** Instances assumed to share one Redis (each lease is max × fraction / instances). */
  instances: 4,
  /** A lease (and the answer it came with) is used for local answers this long (ms). */
  freshMs: 1000,
  /** Giving back an unused lease that failed is retried this much later (ms). */
  retryMs: 1000,
  /** Largest lease (units): a lease is one script call adding that many units (sliding: that many members). */
  maxLease: 256,
}
export type FastPathOptions = typeof FAST_PATH_DEFAULTS

/** Per key: Redis's last answer, and the units it leased that are not used yet. */
interface Entry {
  limiter: RedisLimiter
  strategy: Strategy
  max: number
  windowMs: number
  /** Redis's last answer: units used (leased ones included), local time fetched (-Infinity: none). */
  used: number
  at: number
  /** Leased units not used yet, when they were leased, and how to give them back. */
  lease: number
  leasedAt: number
  /** ms to reset when leased. */
  leaseResetMs: number
  refund?: (unused: number) => Promise<void>
  /** An exact check asking for a lease is in flight (concurrent checks then ask for none). */
  leasing: boolean
}

export interface StoreContext {
  redis: Redis | null
  defaultStrategy: Strategy
  clock?: () => number
  failOpen: boolean
  /** Called on every Redis failure (before failing open or closed). */
  onError(err: Error): void
  /** Called on every Redis success (ends an outage). */
  onOk(): void
  /** Redis stores' fast path tuning (see FAST_PATH_DEFAULTS); `false` makes every check exact. */
  fastPath?: Partial<FastPathOptions> | false
  /** Called when giving back an unused lease fails (it is retried; units not given back age out of the window). */
  onFlushError?(err: Error): void
  /**
   * After a failed check, Redis is skipped (every check fails at once, open or closed per policy)
   * and probed with PING this often until it answers: a hung Redis costs one timeout, not one per
   * request. Default 1000 ms.
   */
  breakerIntervalMs?: number
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
  const limiters = new Map<string, Limiter | RedisLimiter>()
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
  const refusedUntil = new LruMap<number>(10_000)
  const refuse = (key: string, until: number) => refusedUntil.set(key, until)

  // The breaker (Redis only): a failed check opens it; PING closes it (as does a successful refund).
  const breaker = ctx.redis
    ? createBreaker({ probe: () => ctx.redis!.ping(), timeoutMs: 1000, intervalMs: ctx.breakerIntervalMs ?? 1000 })
    : null
  const skipped = () => new Error('Redis unavailable (skipped for a moment after a failure)')

  // ---- fast path (Redis only) ----
  const fast: FastPathOptions | null = ctx.redis && ctx.fastPath !== false ? { ...FAST_PATH_DEFAULTS, ...ctx.fastPath } : null
  // A map of its own, not an LRU: evicting a key must give its unused lease back first.
  const entries = new Map<string, Entry>()
  let timer: NodeJS.Timeout | undefined
  let closed = false // no more timers once the app closes
  /** A lease is used for local answers while fresh: leased units are counted at the time of the lease. */
  const fresh = (e: Entry) => {
    const elapsed = now() - e.leasedAt
    // The token bucket's reset is "until full": past it the bucket only has more tokens than known.
    return elapsed >= 0 && elapsed < fast!.freshMs && (e.strategy === 'token-bucket' || elapsed < e.leaseResetMs)
  }
  /** Gives back a key's unused lease (now); a failure is retried later. */
  const giveBack = (e: Entry): Promise<void> => {
    const { lease, refund } = e
    e.lease = 0
    e.refund = undefined
    if (!lease || !refund) return Promise.resolve()
    return refund(lease).then(
      () => {
        breaker?.reset()
        ctx.onOk() // (Redis answered: an outage is over even if no exact check comes soon)
      },
      (err: Error) => {
        breaker?.suspect()
        ctx.onFlushError?.(err)
        if (closed) return
        setTimeout(() => void refund(lease).catch(() => {}), fast!.retryMs).unref()
      },
    )
  }
  /** Gives back the leases that went stale; keeps checking while leases are out. */
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
    timer = setTimeout(sweep, Math.max(10, fast.freshMs / 4))
    timer.unref()
  }
  const entryFor = (key: string, limiter: RedisLimiter, strategy: Strategy, max: number, windowMs: number): Entry => {
    let e = entries.get(key)
    if (!e) {
      e = { limiter, strategy, max, windowMs, used: 0, at: -Infinity, lease: 0, leasedAt: -Infinity, leaseResetMs: 0, leasing: false }
      entries.set(key, e)
      if (entries.size > 10_000) {
        // Drop the oldest key (its unused lease is given back first).
        const oldest = entries.keys().next().value as string
        const old = entries.get(oldest)!
        entries.delete(oldest)
        void giveBack(old)
      }
    }
    return e
  }
  /** A local answer (current, ttl) from the key's lease; null: check exactly. */
  const local = (e: Entry | undefined, limiter: Limiter, max: number, windowMs: number) => {
    if (!e || !fast || e.lease <= 0 || e.limiter !== limiter || e.max !== max || e.windowMs !== windowMs || !fresh(e)) return null
    e.lease--
    return { current: e.used - e.lease, ttl: Math.max(0, e.leaseResetMs - (now() - e.leasedAt)) }
  }
  /** The lease to ask for with an exact check: only for a busy key, far from its limit. */
  const leaseFor = (e: Entry, max: number) => {
    if (!fast) return 0
    const share = Math.min(fast.maxLease, Math.floor((max * fast.fraction) / fast.instances))
    const busy = now() - e.at < fast.freshMs
    return share > 0 && busy && !e.leasing && e.used + 1 + share <= max * (1 - fast.fraction) ? share : 0
  }

  return class KeelRateLimitStore implements RateLimitStore {
    private readonly limiter: Limiter
    private readonly strategy: Strategy
    private readonly prefix: string

    /** Gives back every unused lease now. */
    static flush(): Promise<void> {
      clearTimeout(timer)
      timer = undefined
      return Promise.all([...entries.values()].map(giveBack)).then(() => {})
    }

    /** Before the Redis connection closes: leases given back, and no timers or retries after it. */
    static close(): Promise<void> {
      const flushed = KeelRateLimitStore.flush()
      closed = true
      breaker?.stop()
      return flushed
    }

    constructor(params: object) {
      const p = params as StoreParams
      const strategy = p.strategy ?? ctx.defaultStrategy
      this.strategy = strategy
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
      if (!fast) return this.check(fullKey, cb, timeWindow, max, null)
      const limiter = this.limiter as RedisLimiter
      const answer = local(entries.get(fullKey), limiter, max, timeWindow)
      if (answer) return cb(null, answer)
      const entry = entryFor(fullKey, limiter, this.strategy, max, timeWindow)
      if (entry.limiter !== limiter || entry.max !== max || entry.windowMs !== timeWindow) {
        void giveBack(entry) // leased under another limit
        entry.limiter = limiter
        entry.max = max
        entry.windowMs = timeWindow
        entry.at = -Infinity
      }
      this.check(fullKey, cb, timeWindow, max, entry)
    }

    /** One exact check (which may also lease units for the key's next requests). */
    private check(
      fullKey: string,
      cb: (err: Error | null, res?: { current: number; ttl: number }) => void,
      timeWindow: number,
      max: number,
      entry: Entry | null,
    ): void {
      const lease = entry ? leaseFor(entry, max) : 0
      if (entry && lease) entry.leasing = true
      const promise: Promise<Hit & { granted?: number; refund?: (unused: number) => Promise<void> }> = breaker?.isOpen
        ? Promise.reject(skipped())
        : entry
          ? (this.limiter as RedisLimiter).hit(fullKey, max, timeWindow, 1, lease)
          : this.limiter.hit(fullKey, max, timeWindow)
      promise.then(
        (hit) => {
          if (entry) {
            if (lease) entry.leasing = false
            entry.used = max - hit.remaining
            entry.at = now()
            if (hit.granted) {
              void giveBack(entry) // (what is left of an earlier lease)
              entry.lease = hit.granted
              entry.refund = hit.refund
              entry.leasedAt = entry.at
              entry.leaseResetMs = hit.resetMs
              schedule()
            }
          }
          if (ctx.redis) ctx.onOk()
          if (hit.allowed) return cb(null, { current: max - hit.remaining - (hit.granted ?? 0), ttl: hit.resetMs })
          // Refused, but this instance holds units leased for this key (a concurrent check's lease): use one.
          const leased = entry && entry.max === max ? local(entry, entry.limiter, max, timeWindow) : null
          if (leased) return cb(null, leased)
          // Refused: one past the limit, and at least 1 ms so retry-after is never 0.
          const ttl = Math.max(1, hit.resetMs)
          if (ctx.redis) refuse(fullKey, now() + ttl)
          cb(null, { current: max + 1, ttl })
        },
        (err: Error) => {
          if (entry) {
            if (lease) entry.leasing = false
            entry.at = -Infinity // no lease until Redis answers again
          }
          breaker?.trip(err)
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
