// Cache-aside for any module: `fastify.cache.get/set/del/wrap` with JSON values, single-flight
// loads, and cheap cached list totals (`count`) invalidated per namespace by a generation number.
// Backed by Redis when REDIS_URL is set (shared by every instance), else an in-process LRU/TTL map.
// A Redis error or timeout never fails a request: the cache is bypassed (the loader runs), one
// warning is logged per outage, and it is used again as soon as Redis answers.
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import { LruMap } from 'toad-cache'
import type { FastifyBaseLogger } from 'fastify'
import { Cluster } from 'ioredis'
import type { RedisClient } from '../src/lib/redis.js'

export interface CacheStats {
  hits: number
  misses: number
  errors: number
  backend: 'redis' | 'memory'
}

export interface Cache {
  /** The cached value, or undefined on a miss (or while Redis is unavailable). */
  get<T>(key: string): Promise<T | undefined>
  set(key: string, value: unknown, ttlSeconds?: number): Promise<void>
  /** Drop keys; call it after the write that made them stale has committed. */
  del(...keys: string[]): Promise<void>
  /** Cache-aside: the cached value, else `loader()` (once per key however many callers miss together), stored for ttl. */
  wrap<T>(key: string, ttlSeconds: number, loader: () => Promise<T>): Promise<T>
  /** A list total cached per namespace and filter set for COUNT_CACHE_TTL_SECONDS; see invalidateCounts. */
  count(namespace: string, filters: Record<string, unknown>, loader: () => Promise<number>): Promise<number>
  /** Forget every cached total of a namespace (bumps its generation); call after writes that change membership. */
  invalidateCounts(namespace: string): Promise<void>
  stats(): CacheStats
}

declare module 'fastify' {
  interface FastifyInstance {
    cache: Cache
  }
}

/** The storage under the cache: Redis or the in-process map. Errors are thrown, handled by createCache. */
interface Store {
  get(key: string): Promise<string | null>
  mget(keys: string[]): Promise<(string | null)[]>
  set(key: string, value: string, ttlSeconds: number): Promise<void>
  del(keys: string[]): Promise<void>
  incr(key: string): Promise<number>
}

/** A bounded LRU (toad-cache) whose entries each carry their own expiry. */
export function memoryStore(maxEntries: number, now: () => number = Date.now): Store {
  const entries = new LruMap<{ value: string; expiresAt: number }>(maxEntries)
  const read = (key: string) => {
    const entry = entries.get(key)
    if (!entry) return null
    if (entry.expiresAt <= now()) {
      entries.delete(key)
      return null
    }
    return entry.value
  }
  const write = (key: string, value: string, ttlSeconds: number) => entries.set(key, { value, expiresAt: now() + ttlSeconds * 1000 })
  return {
    get: async (key) => read(key),
    mget: async (keys) => keys.map(read),
    set: async (key, value, ttl) => write(key, value, ttl),
    del: async (keys) => {
      for (const key of keys) entries.delete(key)
    },
    incr: async (key) => {
      const next = Number(read(key) ?? 0) + 1
      write(key, String(next), 7 * 86_400)
      return next
    },
  }
}

/**
 * On a Redis Cluster a command naming several keys must name keys of one slot (else CROSSSLOT):
 * `mget` is only given keys that share a hash tag (a namespace's generation and totals), and `del`
 * of several keys is one DEL per key there (the keys of a logout everywhere spread over the nodes).
 */
function redisStore(redis: RedisClient): Store {
  const cluster = redis instanceof Cluster
  return {
    get: (key) => redis.get(key),
    mget: (keys) => redis.mget(keys),
    set: async (key, value, ttl) => {
      await redis.set(key, value, 'EX', ttl)
    },
    del: async (keys) => {
      if (keys.length === 0) return
      if (cluster) await Promise.all(keys.map((key) => redis.del(key)))
      else await redis.del(...keys)
    },
    incr: (key) => redis.incr(key),
  }
}

/** Stable key for a filter set: same filters in any order → same key; undefined values ignored. */
export function filterKey(filters: Record<string, unknown>): string {
  const entries = Object.entries(filters)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1))
  return createHash('sha1').update(JSON.stringify(entries)).digest('base64url').slice(0, 22)
}

export interface CacheOptions {
  redis: RedisClient | null
  log: FastifyBaseLogger
  defaultTtlSeconds: number
  countTtlSeconds: number
  memoryMaxEntries: number
  /** After a Redis failure, skip Redis for this long before trying again (so a hung Redis costs one timeout, not one per request). */
  retryAfterMs?: number
}

const PREFIX = 'cache:'

export function createCache({
  redis,
  log,
  defaultTtlSeconds,
  countTtlSeconds,
  memoryMaxEntries,
  retryAfterMs = 1000,
}: CacheOptions): Cache {
  const store = redis ? redisStore(redis) : memoryStore(memoryMaxEntries)
  const counters = { hits: 0, misses: 0, errors: 0 }
  let outage = false
  let skipUntil = 0
  // Deletes that failed while Redis was away: retried once it answers again, so a write made
  // during the outage does not leave a stale entry behind for a whole TTL.
  const pendingDeletes = new Set<string>()
  const pendingGenerations = new Set<string>()
  // Loads in progress, per key. `stale` is set when the key is deleted mid-load, so the loader's
  // (possibly pre-write) result is returned to its callers but not stored.
  const inflight = new Map<string, { promise: Promise<unknown>; stale: boolean }>()

  // Redis is skipped outright while it is not connected (commands would fail anyway: no offline
  // queue) and for a moment after a failure (a slow Redis would cost a full timeout per command).
  const usable = () => !redis || (redis.status === 'ready' && Date.now() >= skipUntil)

  const failed = (error: unknown) => {
    counters.errors++
    if (redis) skipUntil = Date.now() + retryAfterMs
    if (!outage) {
      outage = true
      log.warn({ err: { message: (error as Error).message } }, 'cache unavailable: reading through to the database')
    }
  }
  let flushing = false
  const succeeded = () => {
    if (outage) {
      outage = false
      log.info('cache available again')
    }
    if (flushing || (pendingDeletes.size === 0 && pendingGenerations.size === 0)) return
    // Keys stay pending (read as misses) until their delete has landed.
    flushing = true
    const keys = [...pendingDeletes]
    const generations = [...pendingGenerations]
    void Promise.allSettled([
      keys.length > 0 ? store.del(keys).then(() => keys.forEach((k) => pendingDeletes.delete(k))) : undefined,
      ...generations.map((g) => store.incr(g).then(() => pendingGenerations.delete(g))),
    ]).finally(() => {
      flushing = false
    })
  }

  async function attempt<T>(op: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    if (!usable()) {
      if (outage) counters.errors++
      else failed(new Error(`redis is ${redis?.status}`))
      return { ok: false }
    }
    try {
      const value = await op()
      succeeded()
      return { ok: true, value }
    } catch (error) {
      failed(error)
      return { ok: false }
    }
  }

  async function get<T>(key: string): Promise<T | undefined> {
    // A key whose delete has not reached Redis yet (it failed during an outage) is stale: a miss,
    // even when Redis answers again before the retried delete lands.
    if (pendingDeletes.has(PREFIX + key)) {
      counters.misses++
      return undefined
    }
    const result = await attempt(() => store.get(PREFIX + key))
    if (!result.ok) return undefined
    if (result.value === null) {
      counters.misses++
      return undefined
    }
    counters.hits++
    return JSON.parse(result.value) as T
  }

  async function set(key: string, value: unknown, ttlSeconds = defaultTtlSeconds): Promise<void> {
    if (value === undefined || ttlSeconds <= 0) return
    await attempt(() => store.set(PREFIX + key, JSON.stringify(value), ttlSeconds))
  }

  async function del(...keys: string[]): Promise<void> {
    for (const key of keys) {
      const load = inflight.get(key)
      if (load) {
        load.stale = true
        inflight.delete(key)
      }
    }
    const full = keys.map((k) => PREFIX + k)
    const result = await attempt(() => store.del(full))
    if (!result.ok) full.forEach((k) => pendingDeletes.add(k))
  }

  function wrap<T>(key: string, ttlSeconds: number, loader: () => Promise<T>): Promise<T> {
    const running = inflight.get(key)
    if (running) return running.promise as Promise<T>
    const entry = { promise: undefined as unknown as Promise<T>, stale: false }
    entry.promise = (async () => {
      try {
        const cached = await get<T>(key)
        if (cached !== undefined) return cached
        const value = await loader()
        if (!entry.stale) await set(key, value, ttlSeconds)
        return value
      } finally {
        if (inflight.get(key) === entry) inflight.delete(key)
      }
    })()
    inflight.set(key, entry)
    return entry.promise
  }

  // A namespace's generation and its totals share a hash tag ({namespace}): one slot on a cluster,
  // so `count` reads both in one MGET.
  const generationKey = (namespace: string) => `${PREFIX}gen:{${namespace}}`
  // The generation each namespace had when last read here: what its next read guesses.
  const generations = new Map<string, string>()

  async function count(namespace: string, filters: Record<string, unknown>, loader: () => Promise<number>): Promise<number> {
    const genKey = generationKey(namespace)
    if (countTtlSeconds <= 0 || pendingGenerations.has(genKey)) return loader()
    const filterSet = filterKey(filters)
    const key = (generation: string) => `count:{${namespace}}:${generation}:${filterSet}`
    // One round trip: the generation and the total stored under the generation last seen. The total
    // counts only if the generation is still that one (no write since); else it is looked up again.
    const guess = generations.get(namespace) ?? '0'
    const guessed = PREFIX + key(guess)
    const read = await attempt(() => store.mget([genKey, guessed]))
    if (!read.ok) return loader()
    const [generation = '0', total] = read.value.map((v) => v ?? undefined)
    generations.set(namespace, generation)
    if (generation === guess && total !== undefined && !pendingDeletes.has(guessed)) {
      counters.hits++
      return JSON.parse(total) as number
    }
    return wrap(key(generation), countTtlSeconds, loader)
  }

  async function invalidateCounts(namespace: string): Promise<void> {
    // A new generation makes every cached total of the namespace unreachable; they expire on their own.
    const result = await attempt(() => store.incr(generationKey(namespace)))
    if (!result.ok) pendingGenerations.add(generationKey(namespace))
  }

  return {
    get,
    set,
    del,
    wrap,
    count,
    invalidateCounts,
    stats: () => ({ ...counters, backend: redis ? 'redis' : 'memory' }),
  }
}

export default fp(
  async (fastify) => {
    const { config } = fastify
    const { redis } = fastify
    if (!redis && config.NODE_ENV !== 'test') {
      fastify.log.warn('REDIS_URL is not set: using an in-process cache (per process, not shared between instances)')
    }
    if (redis && redis.status !== 'ready') {
      // Give a starting Redis a moment (bounded), so the first requests don't bypass the cache needlessly.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 2000)
        function done() {
          clearTimeout(timer)
          redis!.off('ready', done)
          resolve()
        }
        redis.once('ready', done)
      })
    }
    fastify.decorate(
      'cache',
      createCache({
        redis: fastify.redis,
        log: fastify.log,
        defaultTtlSeconds: config.CACHE_TTL_SECONDS,
        countTtlSeconds: config.COUNT_CACHE_TTL_SECONDS,
        memoryMaxEntries: config.CACHE_MEMORY_MAX_ENTRIES,
      }),
    )
  },
  { fastify: '5.x', name: 'cache', dependencies: ['config', 'redis'] },
)
