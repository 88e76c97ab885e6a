// The three rate-limit strategies, each twice: an atomic Redis Lua script (shared by every instance)
// and an in-process twin with the same arithmetic (used without REDIS_URL). Time is Redis TIME in
// the scripts, Date.now() in memory; both take an injectable clock so tests cross windows instantly.
import type { Redis } from 'ioredis'
import { LruMap } from 'toad-cache'

export const STRATEGIES = ['sliding', 'fixed', 'token-bucket'] as const
export type Strategy = (typeof STRATEGIES)[number]

/** One request counted against a key. */
export interface Hit {
  allowed: boolean
  /** Requests (tokens) left after this one. */
  remaining: number
  /** Milliseconds until `remaining` grows again (fixed: until the window ends; token bucket: until it is full again, or until the next token when refused). */
  resetMs: number
}

export interface Limiter {
  /** Count one request for `key` against `max` per `windowMs`; resolves the verdict atomically. */
  hit(key: string, max: number, windowMs: number): Promise<Hit>
}

export interface LimiterOptions {
  /** Token bucket: tokens added per second; default max / window (refills completely in one window). */
  refillPerSecond?: number
  /** Milliseconds since the epoch; default Redis TIME (redis) or Date.now (memory). For tests. */
  clock?: () => number
}

const refillPerMs = (max: number, windowMs: number, opts: LimiterOptions) =>
  opts.refillPerSecond !== undefined ? opts.refillPerSecond / 1000 : max / Math.max(1, windowMs)

// ---------------------------------------------------------------------------------------------
// Redis. Each script returns {allowed (0|1), remaining, resetMs, granted, start}; ARGV[now] empty =
// use TIME. ARGV[5] = hits (default 1): how many requests this call counts at once. Records as many
// as fit (never past max) and answers allowed only if all of them fit. ARGV[6] = lease (default 0):
// when allowed, up to that many more units (at most 1000) are counted in advance, as many as fit, and `granted`
// says how many: the store's fast path answers that many later requests locally, already counted
// (what it does not use it gives back with the refund scripts below). `start` is the fixed
// window's start (for its refund), 0 otherwise.

const NOW = `
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end`

/** Fixed window: the window opens at a key's first request; count admitted requests until it closes. */
const fixedLua = `
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local hits = tonumber(ARGV[5]) or 1
${NOW}
local state = redis.call('HMGET', KEYS[1], 's', 'c')
local start = tonumber(state[1])
local count = tonumber(state[2])
if not start or now >= start + window or now < start then
  start = now
  count = 0
end
local room = max - count
local allowed = 0
if hits <= room then allowed = 1 end
local add = math.min(hits, math.max(0, room))
local granted = 0
if allowed == 1 then granted = math.max(0, math.min(tonumber(ARGV[6]) or 0, 1000, room - hits)) end
add = add + granted
if add > 0 then
  count = count + add
  redis.call('HSET', KEYS[1], 's', start, 'c', count)
  redis.call('PEXPIRE', KEYS[1], window + 1000)
end
return {allowed, max - count, start + window - now, granted, start}`

/** Sliding log: a sorted set of admitted request times; exact at every instant, O(max) memory per key. */
const slidingLua = `
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local hits = tonumber(ARGV[5]) or 1
${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local room = max - count
local allowed = 0
if hits <= room then allowed = 1 end
local add = math.min(hits, math.max(0, room))
local granted = 0
if allowed == 1 then granted = math.max(0, math.min(tonumber(ARGV[6]) or 0, 1000, room - hits)) end
add = add + granted
if add > 0 then
  -- one member per request: ARGV[4] (unique per call), then ARGV[4]:2, ARGV[4]:3, ... in chunks
  -- (a lease's members come after the hits': ARGV[4]:(hits + 1) ... ARGV[4]:(hits + granted))
  local i = 1
  while i <= add do
    local args = {}
    local last = math.min(add, i + 499)
    for j = i, last do
      args[#args + 1] = now
      if j == 1 then args[#args + 1] = ARGV[4] else args[#args + 1] = ARGV[4] .. ':' .. j end
    end
    redis.call('ZADD', KEYS[1], unpack(args))
    i = last + 1
  end
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  count = count + add
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, max - count, reset, granted, 0}`

/** Token bucket: capacity max (the burst), refilled continuously at ARGV[4] tokens per ms. */
const tokenBucketLua = `
local max = tonumber(ARGV[1])
local rate = tonumber(ARGV[4])
local hits = tonumber(ARGV[5]) or 1
${NOW}
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if not tokens then
  tokens = max
  ts = now
end
tokens = math.min(max, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= hits then allowed = 1 end
tokens = tokens - math.min(hits, math.floor(tokens))
local granted = 0
if allowed == 1 then granted = math.max(0, math.min(tonumber(ARGV[6]) or 0, 1000, math.floor(tokens))) end
tokens = tokens - granted
local full = math.ceil((max - tokens) / rate)
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], full + 1000)
local reset = full
if allowed == 0 then reset = math.ceil((1 - tokens) / rate) end
return {allowed, math.floor(tokens), reset, granted, 0}`

// Giving back the unused part of a lease (best effort: what is not given back ages out of the window).
/** Fixed: ARGV = units, the window's start when they were leased (a later window owes nothing). */
const fixedRefundLua = `
local state = redis.call('HMGET', KEYS[1], 's', 'c')
if state[2] and tonumber(state[1]) == tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'c', math.max(0, tonumber(state[2]) - tonumber(ARGV[1])))
end
return 0`

/** Sliding: ARGV = the call's member id, the first and last index of the members to remove. */
const slidingRefundLua = `
local members = {}
for j = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  if j == 1 then members[#members + 1] = ARGV[1] else members[#members + 1] = ARGV[1] .. ':' .. j end
  if #members == 500 then
    redis.call('ZREM', KEYS[1], unpack(members))
    members = {}
  end
end
if #members > 0 then redis.call('ZREM', KEYS[1], unpack(members)) end
return 0`

/** Token bucket: ARGV = tokens, capacity. */
const tokenBucketRefundLua = `
local tokens = tonumber(redis.call('HGET', KEYS[1], 't'))
if tokens then redis.call('HSET', KEYS[1], 't', tostring(math.min(tonumber(ARGV[2]), tokens + tonumber(ARGV[1])))) end
return 0`

type ScriptResult = [number, number, number, number, number]
type LimiterCommand = (
  key: string,
  max: number,
  windowMs: number,
  now: string,
  extra: string,
  hits: string,
  lease: string,
) => Promise<ScriptResult>
type RefundCommand = (key: string, ...args: string[]) => Promise<number>

const commands = {
  keelRateFixed: fixedLua,
  keelRateSliding: slidingLua,
  keelRateTokenBucket: tokenBucketLua,
  keelRateFixedRefund: fixedRefundLua,
  keelRateSlidingRefund: slidingRefundLua,
  keelRateTokenBucketRefund: tokenBucketRefundLua,
} as const
const commandFor: Record<Strategy, keyof typeof commands> = {
  fixed: 'keelRateFixed',
  sliding: 'keelRateSliding',
  'token-bucket': 'keelRateTokenBucket',
}

/** Defines the scripts on the client once (ioredis runs them by EVALSHA, loading them on NOSCRIPT). */
function defineCommands(redis: Redis): void {
  for (const [name, lua] of Object.entries(commands)) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua })
  }
}

const toHit = ([allowed, remaining, resetMs]: ScriptResult): Hit => ({
  allowed: allowed === 1,
  remaining: Math.max(0, remaining),
  resetMs: Math.max(0, resetMs),
})

let sequence = 0
const instanceTag = Math.random().toString(36).slice(2, 10)

/** An exact check that may also have leased units in advance. */
export interface Grant extends Hit {
  /** Units counted in advance for later requests (0 when none were asked or none fit). */
  granted: number
  /** Give back `unused` of the granted units (the last ones). */
  refund(unused: number): Promise<void>
}

/** The Redis limiter also counts several requests at once and leases units in advance (see the scripts). */
export interface RedisLimiter extends Limiter {
  /** Count `hits` requests (default 1): records as many as fit; allowed only if all fit; when allowed, lease up to `lease` more. */
  hit(key: string, max: number, windowMs: number, hits?: number, lease?: number): Promise<Grant>
}

export function redisLimiter(redis: Redis, strategy: Strategy, opts: LimiterOptions = {}): RedisLimiter {
  defineCommands(redis)
  const commandsOf = redis as unknown as Record<string, LimiterCommand & RefundCommand>
  const command = commandsOf[commandFor[strategy]]!.bind(redis)
  const refund = commandsOf[`${commandFor[strategy]}Refund`]!.bind(redis) as RefundCommand
  return {
    async hit(key, max, windowMs, hits = 1, lease = 0) {
      const now = opts.clock ? String(opts.clock()) : ''
      // sliding: a unique member per request; token bucket: the refill rate.
      const id = `${instanceTag}:${(sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER)}`
      const extra = strategy === 'sliding' ? id : strategy === 'token-bucket' ? String(refillPerMs(max, windowMs, opts)) : ''
      const result = await command(key, max, windowMs, now, extra, String(hits), String(lease))
      const granted = Math.max(0, result[3] ?? 0)
      const start = String(result[4] ?? 0)
      return {
        ...toHit(result),
        granted,
        async refund(unused) {
          const n = Math.min(unused, granted)
          if (n <= 0) return
          if (strategy === 'fixed') await refund(key, String(n), start)
          else if (strategy === 'sliding') await refund(key, id, String(hits + granted - n + 1), String(hits + granted))
          else await refund(key, String(n), String(max))
        },
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// In-process twins, their state in a bounded LRU (toad-cache: the least recently used key goes first).

export function memoryLimiter(strategy: Strategy, opts: LimiterOptions = {}, maxKeys = 100_000): Limiter {
  const clock = opts.clock ?? Date.now
  if (strategy === 'fixed') {
    const windows = new LruMap<{ start: number; count: number }>(maxKeys)
    return {
      async hit(key, max, windowMs) {
        const now = clock()
        let w = windows.get(key)
        if (!w || now >= w.start + windowMs || now < w.start) {
          w = { start: now, count: 0 }
          windows.set(key, w)
        }
        const allowed = w.count < max
        if (allowed) w.count++
        return { allowed, remaining: max - w.count, resetMs: w.start + windowMs - now }
      },
    }
  }
  if (strategy === 'sliding') {
    // Admitted request times in order; `head` skips expired ones without shifting the array.
    const logs = new LruMap<{ times: number[]; head: number }>(maxKeys)
    return {
      async hit(key, max, windowMs) {
        const now = clock()
        let log = logs.get(key)
        if (!log) {
          log = { times: [], head: 0 }
          logs.set(key, log)
        }
        while (log.head < log.times.length && log.times[log.head]! <= now - windowMs) log.head++
        if (log.head > 64 && log.head * 2 > log.times.length) {
          log.times = log.times.slice(log.head)
          log.head = 0
        }
        const allowed = log.times.length - log.head < max
        if (allowed) log.times.push(now)
        const count = log.times.length - log.head
        const oldest = log.times[log.head]
        return { allowed, remaining: max - count, resetMs: oldest === undefined ? windowMs : oldest + windowMs - now }
      },
    }
  }
  const buckets = new LruMap<{ tokens: number; ts: number }>(maxKeys)
  return {
    async hit(key, max, windowMs) {
      const now = clock()
      const rate = refillPerMs(max, windowMs, opts)
      const b = buckets.get(key) ?? { tokens: max, ts: now }
      b.tokens = Math.min(max, b.tokens + Math.max(0, now - b.ts) * rate)
      b.ts = now
      const allowed = b.tokens >= 1
      if (allowed) b.tokens -= 1
      buckets.set(key, b)
      const resetMs = allowed ? Math.ceil((max - b.tokens) / rate) : Math.ceil((1 - b.tokens) / rate)
      return { allowed, remaining: Math.floor(b.tokens), resetMs }
    },
  }
}
