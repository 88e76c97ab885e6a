// The three strategies, each twice: an atomic Redis Lua script on one key (so it runs on Redis
// Cluster as on a single node, shared by every instance) and an in-process twin with the same
// arithmetic. Time is Redis TIME in the scripts, Date.now() in memory; both take a clock for tests.
import type { RedisClient } from '../../src/lib/redis.js'
import { LruMap } from 'toad-cache'

export const STRATEGIES = ['sliding', 'fixed', 'token-bucket'] as const
export type Strategy = (typeof STRATEGIES)[number]
/** A single node or a cluster: every command here names one key. */
export type { RedisClient }

/** One request counted against a key. */
export interface Hit {
  allowed: boolean
  /** Requests (tokens) left after this one and the units leased with it. */
  remaining: number
  /** ms until `remaining` grows (fixed: the window's end; sliding: the oldest request leaves; bucket: full again, or the next token when refused). */
  resetMs: number
  /** Units counted in advance for later requests (Redis only, see store.ts). */
  granted: number
  /** Gives back `n` of the granted units. */
  refund(n: number): Promise<void>
}

export interface Limiter {
  /** Counts one request for `key` against `max` per `windowMs`, atomically; when allowed, also leases up to `lease` more units. */
  hit(key: string, max: number, windowMs: number, lease?: number): Promise<Hit>
}

/** Milliseconds since the epoch; default Redis TIME (Redis) or Date.now (memory). */
export type Clock = () => number

// ---- Redis. ARGV: max, window (ms), now ('' = TIME), lease, member id (sliding).
// Each returns {allowed, remaining, resetMs, granted, window start (fixed, for its refund)}.
const NOW = `local max, window, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), math.min(tonumber(ARGV[4]), 1000)
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`
const scripts: Record<Strategy, string> = {
  // A counter per window; the window opens at a key's first request.
  fixed: `${NOW}
local s = redis.call('HMGET', KEYS[1], 's', 'c')
local start, count = tonumber(s[1]), tonumber(s[2]) or 0
if not start or now >= start + window or now < start then start, count = now, 0 end
if count >= max then return {0, 0, start + window - now, 0, start} end
local granted = math.max(0, math.min(lease, max - count - 1))
count = count + 1 + granted
redis.call('HSET', KEYS[1], 's', start, 'c', count)
redis.call('PEXPIRE', KEYS[1], window + 1000)
return {1, max - count, start + window - now, granted, start}`,
  // A sorted set of admitted request times (members ARGV[5]:0 for the request, :1.. for leased units).
  sliding: `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed, granted = 0, 0
if count < max then
  allowed, granted = 1, math.max(0, math.min(lease, max - count - 1))
  local args = {}
  for j = 0, granted do
    args[#args + 1] = now
    args[#args + 1] = ARGV[5] .. ':' .. j
  end
  redis.call('ZADD', KEYS[1], unpack(args))
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  count = count + 1 + granted
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, max - count, reset, granted, 0}`,
  // A bucket of max tokens refilled continuously, max per window.
  'token-bucket': `${NOW}
local rate = max / window
local s = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = math.min(max, (tonumber(s[1]) or max) + math.max(0, now - (tonumber(s[2]) or now)) * rate)
local allowed, granted = 0, 0
if tokens >= 1 then
  allowed, tokens = 1, tokens - 1
  granted = math.max(0, math.min(lease, math.floor(tokens)))
  tokens = tokens - granted
end
local full = math.ceil((max - tokens) / rate)
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], full + 1000)
if allowed == 0 then full = math.ceil((1 - tokens) / rate) end
return {allowed, math.floor(tokens), full, granted, 0}`,
}

/** Gives back unused leased units. ARGV: strategy, n, then: fixed: the window start; sliding: the member id, granted; bucket: max. */
const refundLua = `
local n = tonumber(ARGV[2])
if ARGV[1] == 'fixed' then
  local s = redis.call('HMGET', KEYS[1], 's', 'c')
  if s[2] and tonumber(s[1]) == tonumber(ARGV[3]) then redis.call('HSET', KEYS[1], 'c', math.max(0, tonumber(s[2]) - n)) end
elseif ARGV[1] == 'sliding' then
  local members = {}
  for j = tonumber(ARGV[4]) - n + 1, tonumber(ARGV[4]) do members[#members + 1] = ARGV[3] .. ':' .. j end
  redis.call('ZREM', KEYS[1], unpack(members))
else
  local tokens = tonumber(redis.call('HGET', KEYS[1], 't'))
  if tokens then redis.call('HSET', KEYS[1], 't', tostring(math.min(tonumber(ARGV[3]), tokens + n))) end
end
return 0`

type Command = (key: string, ...args: string[]) => Promise<[number, number, number, number, number]>

/** ioredis runs defined commands by EVALSHA (loading the script on NOSCRIPT, on every cluster node). */
function command(redis: RedisClient, name: string, lua: string): Command {
  if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua })
  return (redis as unknown as Record<string, Command>)[name]!.bind(redis)
}

let sequence = 0
const instanceTag = Math.random().toString(36).slice(2, 10)

export function redisLimiter(redis: RedisClient, strategy: Strategy, clock?: Clock): Limiter {
  const script = command(redis, `keelRate_${strategy.replace('-', '_')}`, scripts[strategy])
  const refund = command(redis, 'keelRateRefund', refundLua)
  return {
    async hit(key, max, windowMs, lease = 0) {
      const id = `${instanceTag}:${(sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER)}`
      const [allowed, remaining, resetMs, granted, start] = await script(
        key,
        String(max),
        String(windowMs),
        clock ? String(clock()) : '',
        String(lease),
        id,
      )
      const extra = { fixed: [String(start)], sliding: [id, String(granted)], 'token-bucket': [String(max)] }[strategy]
      return {
        allowed: allowed === 1,
        remaining: Math.max(0, remaining),
        resetMs: Math.max(0, resetMs),
        granted,
        refund: async (n) => {
          if (Math.min(n, granted) > 0) await refund(key, strategy, String(Math.min(n, granted)), ...extra)
        },
      }
    },
  }
}

// ---- In process: the same arithmetic, state in a bounded LRU (the least recently used key goes first).
const noRefund = async () => {}
const answer = (allowed: boolean, remaining: number, resetMs: number): Hit => ({
  allowed,
  remaining,
  resetMs,
  granted: 0,
  refund: noRefund,
})

export function memoryLimiter(strategy: Strategy, clock: Clock = Date.now, maxKeys = 100_000): Limiter {
  if (strategy === 'fixed') {
    const windows = new LruMap<{ start: number; count: number }>(maxKeys)
    return {
      async hit(key, max, windowMs) {
        const now = clock()
        let w = windows.get(key)
        if (!w || now >= w.start + windowMs || now < w.start) windows.set(key, (w = { start: now, count: 0 }))
        const allowed = w.count < max
        if (allowed) w.count++
        return answer(allowed, max - w.count, w.start + windowMs - now)
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
        if (!log) logs.set(key, (log = { times: [], head: 0 }))
        while (log.head < log.times.length && log.times[log.head]! <= now - windowMs) log.head++
        if (log.head > 64 && log.head * 2 > log.times.length) [log.times, log.head] = [log.times.slice(log.head), 0]
        const allowed = log.times.length - log.head < max
        if (allowed) log.times.push(now)
        const oldest = log.times[log.head]
        return answer(allowed, max - (log.times.length - log.head), oldest === undefined ? windowMs : oldest + windowMs - now)
      },
    }
  }
  const buckets = new LruMap<{ tokens: number; ts: number }>(maxKeys)
  return {
    async hit(key, max, windowMs) {
      const now = clock()
      const rate = max / windowMs
      const b = buckets.get(key) ?? { tokens: max, ts: now }
      b.tokens = Math.min(max, b.tokens + Math.max(0, now - b.ts) * rate)
      b.ts = now
      const allowed = b.tokens >= 1
      if (allowed) b.tokens -= 1
      buckets.set(key, b)
      return answer(allowed, Math.floor(b.tokens), Math.ceil((allowed ? max - b.tokens : 1 - b.tokens) / rate))
    },
  }
}
