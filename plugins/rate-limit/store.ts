// Adapts the strategies to @fastify/rate-limit's store contract: `new Store(globalParams)`,
// `child(routeParams)` once per limited route, `incr(key, cb, timeWindow, max)` per request
// answering `{ current, ttl }` (the plugin derives remaining = max - current and 429 when current > max).
import type { Redis } from 'ioredis'
import { createBreaker } from '../../src/lib/breaker.js'
import { ServiceUnavailableError } from '../../src/lib/errors.js'
import { memoryLimiter, redisLimiter, type Hit, type Limiter, type RedisLimiter, type Strategy } from './limiters.js'

/**
 * The Redis stores' local fast path ("local while far from the limit, exact near it"). Per key the
 * store remembers Redis's last answer (count used, reset, when fetched). While
 *   used + hits in flight + hits not yet sent + 1 ≤ max × fraction / instances
 * and that answer is fresh (younger than freshMs, and, except for the token bucket, before its
 * reset), a request is admitted locally and counted; the counted hits go to Redis in one script call
 * per key (`hits` > 1) every flushMs, after maxPending hits, or with the key's next exact check.
 * Each instance may thus run at most max × fraction / instances ahead of Redis, so with up to
 * `instances` instances at most max × fraction is spent unseen before every instance checks
 * exactly. Near the limit (or without a fresh answer) every request is one exact Redis call that
 * also carries this instance's unsent hits, so 429s only ever come from Redis. With the defaults a
 * limit below 9 is always exact; the default 300/min is local for its first 37 requests.
 */
export const FAST_PATH_DEFAULTS = {
  /** Share of max that the instances together may admit locally (between syncs). */
  fraction: 0.5,
  /** Instances assumed to share one Redis (each gets fraction / instances of max). */
  instances: 4,
  /** Send locally counted hits at least this often (ms). */
  flushMs: 50,
  /** ... or as soon as a key has this many. */
  maxPending: 256,
  /** Redis's answer is trusted for local decisions this long (ms). */
  freshMs: 1000,
  /** After a failed flush, retry the hits this much later (ms); they are kept, not lost. */
  retryMs: 1000,
}
export type FastPathOptions = typeof FAST_PATH_DEFAULTS

/** Per key: Redis's last answer, plus the hits counted here since. */
interface Entry {
  limiter: RedisLimiter
  strategy: Strategy
  max: number
  windowMs: number
  /** Redis's last answer: requests (tokens) used, ms to reset, local time fetched (-Infinity: none). */
  used: number
  resetMs: number
  at: number
  /** Admitted locally, not yet sent to Redis. */
  pending: number
  /** Sent to Redis, answer not back yet (not included in `used`). */
  inFlight: number
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
  /** Called when sending locally counted hits fails (they are kept and retried). */
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
  const refusedUntil = new Map<string, number>()
  const refuse = (key: string, until: number) => {
    refusedUntil.delete(key)
    refusedUntil.set(key, until)
    if (refusedUntil.size > 10_000) refusedUntil.delete(refusedUntil.keys().next().value as string)
  }

  // The breaker (Redis only): a failed check opens it; PING closes it (as does a successful flush).
  const breaker = ctx.redis
    ? createBreaker({ probe: () => ctx.redis!.ping(), timeoutMs: 1000, intervalMs: ctx.breakerIntervalMs ?? 1000 })
    : null
  const skipped = () => new Error('Redis unavailable (skipped for a moment after a failure)')

  // ---- fast path (Redis only) ----
  const fast: FastPathOptions | null = ctx.redis && ctx.fastPath !== false ? { ...FAST_PATH_DEFAULTS, ...ctx.fastPath } : null
  const entries = new Map<string, Entry>()
  const dirty = new Set<string>() // keys with pending hits
  let timer: NodeJS.Timeout | undefined
  let closed = false // no more retries once the app closes
  const schedule = (ms: number) => {
    if (timer || !fast || closed) return
    timer = setTimeout(() => {
      timer = undefined
      void flushDirty()
    }, ms)
    timer.unref()
  }
  /** Redis answered for `sent` hits of this key: it is now the latest authoritative state. */
  const answered = (e: Entry, sent: number, max: number, hit: Hit) => {
    e.inFlight -= sent
    e.used = max - hit.remaining
    e.resetMs = hit.resetMs
    e.at = now()
  }
  /** Hits Redis did not take: back to the key's pending hits, retried later. */
  const keep = (key: string, e: Entry, hits: number) => {
    const current = entries.get(key) ?? e // (e may have been evicted meanwhile)
    if (!entries.has(key)) entries.set(key, current)
    current.pending += hits
    dirty.add(key)
    schedule(fast!.retryMs)
  }
  /** Sends a key's pending hits; never rejects: on failure they are kept and retried later. */
  const flush = (key: string, e: Entry): Promise<void> => {
    const sent = e.pending
    dirty.delete(key)
    if (sent === 0) return Promise.resolve()
    e.pending = 0
    e.inFlight += sent
    const max = e.max // (the entry's limit may change before the answer)
    return e.limiter.hit(key, max, e.windowMs, sent).then(
      (hit) => {
        answered(e, sent, max, hit)
        breaker?.reset()
        ctx.onOk() // (Redis answered: an outage is over even if no exact check comes soon)
      },
      (err: Error) => {
        e.inFlight -= sent
        e.at = -Infinity // no local answers until Redis answers again
        keep(key, e, sent)
        breaker?.suspect()
        ctx.onFlushError?.(err)
      },
    )
  }
  const flushDirty = () =>
    Promise.all(
      [...dirty].map((key) => {
        const e = entries.get(key)
        if (e) return flush(key, e)
        dirty.delete(key)
      }),
    ).then(() => {})
  const entryFor = (key: string, limiter: RedisLimiter, strategy: Strategy, max: number, windowMs: number): Entry => {
    let e = entries.get(key)
    if (!e) {
      e = { limiter, strategy, max, windowMs, used: 0, resetMs: 0, at: -Infinity, pending: 0, inFlight: 0 }
      entries.set(key, e)
      if (entries.size > 10_000) {
        // Drop the oldest key (its pending hits are sent first; the flush keeps its own reference).
        const oldest = entries.keys().next().value as string
        const old = entries.get(oldest)!
        entries.delete(oldest)
        if (old.pending) void flush(oldest, old)
      }
    }
    return e
  }
  /** A local answer (current, ttl) if this key is far enough from its limit; null: check exactly. */
  const local = (e: Entry | undefined, limiter: Limiter, max: number, windowMs: number) => {
    if (!e || !fast || e.limiter !== limiter || e.max !== max || e.windowMs !== windowMs) return null
    const elapsed = now() - e.at
    if (!(elapsed >= 0 && elapsed < fast.freshMs)) return null
    // The token bucket's reset is "until full": past it the bucket only has more tokens than known.
    if (e.strategy !== 'token-bucket' && elapsed >= e.resetMs) return null
    const current = e.used + e.inFlight + e.pending + 1
    if (current > (max * fast.fraction) / fast.instances) return null
    return { current, ttl: Math.max(0, e.resetMs - elapsed) }
  }

  return class KeelRateLimitStore implements RateLimitStore {
    private readonly limiter: Limiter
    private readonly strategy: Strategy
    private readonly prefix: string

    /** Sends every locally counted hit now. */
    static flush(): Promise<void> {
      clearTimeout(timer)
      timer = undefined
      return flushDirty()
    }

    /** Before the Redis connection closes: a last flush, and no timers or retries after it. */
    static close(): Promise<void> {
      closed = true
      breaker?.stop()
      return KeelRateLimitStore.flush()
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
      if (!fast) return this.check(fullKey, cb, timeWindow, max, null, 0)
      const limiter = this.limiter as RedisLimiter
      const e = entries.get(fullKey)
      const answer = local(e, limiter, max, timeWindow)
      if (answer && e) {
        e.pending++
        if (e.pending >= fast.maxPending) void flush(fullKey, e)
        else {
          dirty.add(fullKey)
          schedule(fast.flushMs)
        }
        return cb(null, answer)
      }
      // Exact: this request plus the key's unsent hits (if any) in one call; the request is the last.
      const entry = entryFor(fullKey, limiter, this.strategy, max, timeWindow)
      let carried = 0
      if (entry.limiter === limiter && entry.max === max && entry.windowMs === timeWindow) {
        carried = entry.pending
        entry.pending = 0
        dirty.delete(fullKey)
      } else if (entry.pending) void flush(fullKey, entry) // sent with the limit they were counted under
      entry.limiter = limiter
      entry.max = max
      entry.windowMs = timeWindow
      entry.inFlight += carried + 1
      this.check(fullKey, cb, timeWindow, max, entry, carried)
    }

    /** One exact check (plus `carried` earlier hits when on the fast path). */
    private check(
      fullKey: string,
      cb: (err: Error | null, res?: { current: number; ttl: number }) => void,
      timeWindow: number,
      max: number,
      entry: Entry | null,
      carried: number,
    ): void {
      const hits = carried + 1
      const promise = breaker?.isOpen
        ? Promise.reject(skipped())
        : entry
          ? (this.limiter as RedisLimiter).hit(fullKey, max, timeWindow, hits)
          : this.limiter.hit(fullKey, max, timeWindow)
      promise.then(
        (hit) => {
          if (entry) answered(entry, hits, max, hit)
          if (ctx.redis) ctx.onOk()
          if (hit.allowed) return cb(null, { current: max - hit.remaining, ttl: hit.resetMs })
          // Refused: one past the limit, and at least 1 ms so retry-after is never 0.
          const ttl = Math.max(1, hit.resetMs)
          if (ctx.redis) refuse(fullKey, now() + ttl)
          cb(null, { current: max + 1, ttl })
        },
        (err: Error) => {
          if (entry) {
            // The carried hits were admitted earlier: keep them for a later flush.
            entry.inFlight -= hits
            entry.at = -Infinity
            if (carried) keep(fullKey, entry, carried)
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
