// Failed-login budgets (`fastify.loginFailures`): brute force counts failures, not calls. Before a
// password is checked (a login, or the current password of a password change), one failure is
// reserved against the account's budget (its email) and against the client's (its IP, a higher
// ceiling); a success gives both back, so only failures stay counted. Each budget is a sliding log:
// a Redis sorted set changed by one atomic script per key (shared by every instance, exact under
// concurrency, one key per script so it works on Redis Cluster), or an in-process twin without Redis.
import { createHash, randomUUID } from 'node:crypto'
import { normalizeIP } from '@fastify/rate-limit'
import type { Redis } from 'ioredis'
import { LruMap } from 'toad-cache'

export type LoginBudgetName = 'account' | 'client'

export interface LoginBudget {
  max: number
  windowMs: number
}

/** A refused attempt: which budget is spent, its size, and when its oldest failure leaves the window. */
export interface LoginRefusal {
  budget: LoginBudgetName
  max: number
  retryMs: number
}

export interface LoginAttempt {
  /** The password was right: the attempt is not counted (its reservations are given back). */
  succeeded(): Promise<void>
}

export interface LoginFailures {
  /**
   * Call before checking a password: reserves one failure for the account (an email, any case) and
   * the client (an IP). Throws a 429 when either budget is spent; otherwise the attempt counts as a
   * failure unless `succeeded()` is called.
   */
  begin(who: { account: string; client: string }): Promise<LoginAttempt>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Failed-login budgets per account and per client (plugins/rate-limit/login-failures.ts). */
    loginFailures: LoginFailures
  }
}

export interface LoginFailuresOptions {
  redis: Redis | null
  account: LoginBudget
  client: LoginBudget
  failOpen: boolean
  /** Milliseconds since the epoch; default Redis TIME (redis) or Date.now (memory). For tests. */
  clock?: () => number
  /** The error thrown when a budget is spent (a 429 carrying its rate-limit headers). */
  refused(refusal: LoginRefusal): Error
  /** The error thrown when Redis fails and the limiter fails closed (a 503). */
  unavailable(): Error
  onError(err: Error): void
  onOk(): void
}

/** Reserve: drop failures older than the window; refuse when `max` remain, else record this one. */
const reserveLua = `
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window + 1000)
return {1, 0}`

interface Log {
  /** Reserve `member` on `key`: null when it fits, else the ms until the oldest failure leaves the window. */
  reserve(key: string, budget: LoginBudget, member: string): Promise<number | null>
  release(key: string, member: string): Promise<void>
}

function redisLog(redis: Redis, clock?: () => number): Log {
  if (!('keelLoginReserve' in redis)) redis.defineCommand('keelLoginReserve', { numberOfKeys: 1, lua: reserveLua })
  const reserve = (redis as unknown as Record<string, (...args: string[]) => Promise<[number, number]>>).keelLoginReserve!.bind(redis)
  return {
    async reserve(key, { max, windowMs }, member) {
      const [allowed, retryMs] = await reserve(key, String(max), String(windowMs), member, clock ? String(clock()) : '')
      return allowed === 1 ? null : Math.max(1, retryMs)
    },
    async release(key, member) {
      await redis.zrem(key, member)
    },
  }
}

function memoryLog(clock: () => number = Date.now, maxKeys = 100_000): Log {
  const logs = new LruMap<Map<string, number>>(maxKeys) // key -> member -> time, oldest first
  return {
    async reserve(key, { max, windowMs }, member) {
      const now = clock()
      const log = logs.get(key) ?? new Map<string, number>()
      for (const [m, at] of log) if (at <= now - windowMs) log.delete(m)
      logs.set(key, log)
      if (log.size >= max) return Math.max(1, log.values().next().value! + windowMs - now)
      log.set(member, now)
      return null
    },
    async release(key, member) {
      logs.get(key)?.delete(member)
    },
  }
}

const PREFIX = 'rl:login-failures:'
// Hashed: no emails in Redis key names.
const accountKey = (email: string) =>
  `${PREFIX}account:${createHash('sha256').update(email.trim().toLowerCase()).digest('base64url').slice(0, 22)}`
const clientKey = (ip: string) => `${PREFIX}client:${normalizeIP(ip)}`

/** A Redis call that failed while failing open. */
const FAILED = Symbol('redis failed')

export function createLoginFailures(options: LoginFailuresOptions): LoginFailures {
  const log = options.redis ? redisLog(options.redis, options.clock) : memoryLog(options.clock)
  const redisCall = async <T>(call: () => Promise<T>): Promise<T | typeof FAILED> => {
    try {
      const result = await call()
      if (options.redis) options.onOk()
      return result
    } catch (error) {
      options.onError(error as Error)
      if (!options.failOpen) throw options.unavailable()
      return FAILED
    }
  }
  const unchecked: LoginAttempt = { succeeded: async () => {} }

  return {
    async begin({ account, client }) {
      const member = randomUUID()
      const budgets = [
        { name: 'account' as const, key: accountKey(account), budget: options.account },
        { name: 'client' as const, key: clientKey(client), budget: options.client },
      ]
      const reserved: string[] = []
      const releaseAll = async () => {
        await Promise.all(reserved.map((key) => redisCall(() => log.release(key, member)).catch(() => undefined)))
      }
      for (const { name, key, budget } of budgets) {
        const retryMs = await redisCall(() => log.reserve(key, budget, member))
        if (retryMs === FAILED) {
          await releaseAll()
          return unchecked // failing open: let the attempt through unchecked
        }
        if (retryMs !== null) {
          await releaseAll()
          throw options.refused({ budget: name, max: budget.max, retryMs })
        }
        reserved.push(key)
      }
      return { succeeded: releaseAll }
    },
  }
}

/** With rate limiting off: every attempt goes through. */
export const unlimitedLoginFailures: LoginFailures = { begin: async () => ({ succeeded: async () => {} }) }
