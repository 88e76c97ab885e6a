// Failed-login budgets (`fastify.loginFailures`): brute force counts failures, not calls, and a
// stranger who knows an email cannot lock its owner out (SECURITY.md: the threat and the numbers).
// Before a password is checked (a login, or the current password of a password change) one failure
// is reserved against each budget that applies; a right password gives them back. Budgets: the
// client address across accounts; one client on one account (its device, else its address) with a
// growing delay; the account, for clients holding no device cookie of it. A client that logged in
// before holds a device cookie (signed, bound to the account) and keeps a budget of its own.
// Each budget is a Redis sorted set: one script reserves on an account's keys at once (they share a
// hash tag, so it runs on Redis Cluster), another on the address's; an in-process twin without Redis.
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { normalizeIP } from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { LruMap } from 'toad-cache'
import type { RedisClient } from './limiters.js'

export type LoginBudgetName = 'client' | 'client-account' | 'account'

/** A refused attempt: which budget, its size, and when the attempt may be made. */
export interface LoginRefusal {
  budget: LoginBudgetName
  max: number
  retryMs: number
}

export interface LoginAttempt {
  /** The password was right: nothing is counted. Resolves to the device token to hand back (a cookie). */
  succeeded(): Promise<string | undefined>
}

export interface LoginFailures {
  /**
   * Call before checking a password of `account` (an email, any case) sent from `ip`, with the device
   * token the client sent (its cookie). Throws a 429 when a budget is spent or the growing delay has
   * not passed; otherwise the attempt counts as a failure unless `succeeded()` is called.
   */
  begin(who: { account: string; ip: string; device?: string }): Promise<LoginAttempt>
  /** The device token the request carries (the `keel_device` cookie). */
  deviceOf(request: FastifyRequest): string | undefined
  /** The Set-Cookie value that hands `token` to the client, sent back only to `path`. */
  deviceCookie(token: string, path: string): string
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Failed-login budgets (plugins/rate-limit/login-failures.ts). */
    loginFailures: LoginFailures
  }
}

export interface LoginBudgets {
  windowMs: number
  /** Failures per client address, across accounts (clients with a device of the account aside). */
  client: number
  /** Failures of one client (its device, else its address) on one account. */
  clientAccount: number
  /** Failures on one account from clients without a device of it, all addresses together. */
  account: number
  /** The growing delay: after FREE_FAILURES of one client on one account, it waits this, then twice as long per failure (0: none). */
  delayMs: number
}

export interface LoginFailuresOptions {
  redis: RedisClient | null
  budgets: LoginBudgets
  /** Signs device tokens. */
  secret: Buffer
  /** Production: the device cookie is sent over HTTPS only. */
  secureCookie: boolean
  failOpen: boolean
  /** The 429 thrown when a budget is spent. */
  refused(refusal: LoginRefusal): Error
  /** The 503 thrown when Redis fails and the limiter fails closed. */
  unavailable(): Error
  onError(err: Error): void
  onOk(): void
}

/** Failures of one client on one account before the growing delay starts. */
export const FREE_FAILURES = 3
export const DEVICE_COOKIE = 'keel_device'
const DEVICE_TTL_SECONDS = 180 * 86_400

/** One budget of an attempt: its key, size, and failures before the growing delay (max: none). */
interface Budget {
  name: LoginBudgetName
  key: string
  max: number
  free: number
}

interface Log {
  /** Reserves `member` on all the budgets (one slot) or on none: null, or the first one refusing and the wait. */
  reserve(budgets: Budget[], member: string): Promise<{ index: number; waitMs: number } | null>
  release(key: string, member: string): Promise<void>
}

// ARGV: window, member, delay, then per key: max, free.
const reserveLua = `
local window, member, delay = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  local max, free = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  local wait = 0
  if n >= max then
    wait = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]) + window - now
  elseif n >= free and delay > 0 then
    wait = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]) + math.min(window, delay * 2 ^ (n - free)) - now
  end
  if wait > 0 then return {i, wait} end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('PEXPIRE', key, window + 1000)
end
return {0, 0}`

type ReserveCommand = (...args: string[]) => Promise<[number, number]>

function redisLog(redis: RedisClient, { windowMs, delayMs }: LoginBudgets): Log {
  // One command per number of keys: an auto-pipelined cluster client routes a command by its first
  // argument, which must then be a key, not the key count.
  const reserve = (keys: number) => {
    const name = `keelLoginReserve${keys}`
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: keys, lua: reserveLua })
    return (redis as unknown as Record<string, ReserveCommand>)[name]!.bind(redis)
  }
  const commands = [reserve(1), reserve(2)]
  return {
    async reserve(budgets, member) {
      const args = budgets.flatMap((b) => [String(b.max), String(b.free)])
      const keys = budgets.map((b) => b.key)
      const [index, waitMs] = await commands[keys.length - 1]!(...keys, String(windowMs), member, String(delayMs), ...args)
      return index === 0 ? null : { index: index - 1, waitMs }
    },
    async release(key, member) {
      await redis.zrem(key, member)
    },
  }
}

function memoryLog({ windowMs, delayMs }: LoginBudgets, maxKeys = 100_000): Log {
  const logs = new LruMap<Map<string, number>>(maxKeys) // member -> time, oldest first
  const logOf = (key: string, now: number) => {
    const log = logs.get(key) ?? new Map<string, number>()
    for (const [member, at] of log) if (at <= now - windowMs) log.delete(member)
    logs.set(key, log)
    return log
  }
  return {
    async reserve(budgets, member) {
      const now = Date.now()
      for (const [index, { key, max, free }] of budgets.entries()) {
        const times = [...logOf(key, now).values()]
        let waitMs = 0
        if (times.length >= max) waitMs = times[0]! + windowMs - now
        else if (delayMs > 0 && times.length >= free)
          waitMs = times.at(-1)! + Math.min(windowMs, delayMs * 2 ** (times.length - free)) - now
        if (waitMs > 0) return { index, waitMs }
      }
      for (const { key } of budgets) logOf(key, now).set(member, now)
      return null
    },
    async release(key, member) {
      logs.get(key)?.delete(member)
    },
  }
}

/** Device tokens: `<id>.<expiry, s>.<HMAC of both and the account>`; opaque to the client, bound to one account. */
function deviceTokens(secret: Buffer) {
  const mac = (id: string, exp: string, account: string) => createHmac('sha256', secret).update(`${id}.${exp}.${account}`).digest()
  return {
    issue(account: string, id = randomBytes(16).toString('base64url')) {
      const exp = String(Math.floor(Date.now() / 1000) + DEVICE_TTL_SECONDS)
      return `${id}.${exp}.${mac(id, exp, account).toString('base64url')}`
    },
    /** The device id of a token issued for `account` and not expired. */
    verify(token: string, account: string): string | undefined {
      const [, id, exp, sig] = /^([\w-]{22})\.(\d{10})\.([\w-]{43})$/.exec(token) ?? []
      if (!id || !exp || !sig || Number(exp) * 1000 <= Date.now()) return undefined
      return timingSafeEqual(Buffer.from(sig), Buffer.from(mac(id, exp, account).toString('base64url'))) ? id : undefined
    },
  }
}

/** A Redis call that failed while failing open. */
const FAILED = Symbol('redis failed')
const COOKIE = new RegExp(`(?:^|;\\s*)${DEVICE_COOKIE}=([^;\\s]+)`)

export function createLoginFailures(options: LoginFailuresOptions): LoginFailures {
  const { budgets } = options
  const log = options.redis ? redisLog(options.redis, budgets) : memoryLog(budgets)
  const devices = deviceTokens(options.secret)
  const guarded = async <T>(call: () => Promise<T>): Promise<T | typeof FAILED> => {
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

  return {
    async begin({ account, ip, device }) {
      // Hashed: no emails in key names. The braces are a hash tag: an account's keys share a slot.
      const tag = `rl:login:{${createHash('sha256').update(account.trim().toLowerCase()).digest('base64url').slice(0, 22)}}`
      const deviceId = device ? devices.verify(device, tag) : undefined
      const address = normalizeIP(ip)
      const own = { name: 'client-account', max: budgets.clientAccount, free: FREE_FAILURES } as const
      const calls: Budget[][] = deviceId
        ? [[{ ...own, key: `${tag}:device:${deviceId}` }]]
        : [
            [
              { ...own, key: `${tag}:ip:${address}` },
              { name: 'account', key: `${tag}:untrusted`, max: budgets.account, free: budgets.account },
            ],
            [{ name: 'client', key: `rl:login:ip:${address}`, max: budgets.client, free: budgets.client }],
          ]
      const member = randomUUID()
      const outcomes = await Promise.all(calls.map((call) => guarded(() => log.reserve(call, member))))
      const held = calls.filter((_, i) => outcomes[i] === null).flat()
      const release = async () => {
        await Promise.all(held.map(({ key }) => guarded(() => log.release(key, member)).catch(() => undefined)))
      }
      for (const [i, outcome] of outcomes.entries()) {
        if (!outcome || outcome === FAILED) continue // (failing open: that part of the attempt goes unchecked)
        await release()
        const { name, max } = calls[i]![outcome.index]!
        throw options.refused({ budget: name, max, retryMs: Math.max(1, outcome.waitMs) })
      }
      return {
        async succeeded() {
          await release()
          return devices.issue(tag, deviceId)
        },
      }
    },
    deviceOf: (request) => COOKIE.exec(request.headers.cookie ?? '')?.[1],
    deviceCookie: (token, path) =>
      `${DEVICE_COOKIE}=${token}; Path=${path}; Max-Age=${DEVICE_TTL_SECONDS}; HttpOnly; SameSite=Strict${options.secureCookie ? '; Secure' : ''}`,
  }
}

/** With rate limiting off: every attempt goes through, and no device cookie is handed out. */
export const unlimitedLoginFailures: LoginFailures = {
  begin: async () => ({ succeeded: async () => undefined }),
  deviceOf: () => undefined,
  deviceCookie: () => '',
}
