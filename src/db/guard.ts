// Fail fast on a missing or hung PostgreSQL. postgres.js alone waits: for a connection without
// bound, for a reconnect after a growing backoff (up to 20 s), and forever for an answer from a
// frozen server (the statement timeout is the server's, so it cannot fire). The guard wraps a pool:
// - a breaker: a query slower than DB_STALL_MS or a connection error makes it probe the server (a
//   `select 1` on a connection of its own, bounded by DB_PROBE_TIMEOUT_MS); a failed probe opens it:
//   the pool's sockets are cut (queries waiting on a frozen server fail now), and every new query
//   fails at once with DatabaseUnavailableError (503, retry-after) until a probe succeeds;
// - a bound on waiting for a connection: at most DB_POOL_MAX queries and transactions run at once,
//   the others wait in line at most DB_ACQUIRE_TIMEOUT_MS (then 503) and never reach the driver,
//   so a query refused here has no effect;
// - a bound on the reconnect backoff (DB_RECONNECT_MAX_MS), so the pool is back soon after the server.
// What of postgres.js's private behaviour this needs is in postgres-js.ts (and tested there).
import net from 'node:net'
import postgres from 'postgres'
import {
  createTransactionWatch,
  deferQuery,
  deliverErrorWithClose,
  isPendingQuery,
  isTransactionBegin,
  type PoolHooks,
} from './postgres-js.js'
import { ServiceUnavailableError } from '../lib/errors.js'
import { createBreaker, type Breaker } from '../lib/breaker.js'

export class DatabaseUnavailableError extends ServiceUnavailableError {
  constructor(
    message = 'The database is unavailable; try again shortly',
    readonly retryAfterSeconds = 1,
  ) {
    super(message)
  }
}

export interface GuardOptions {
  url: string
  /** Queries and transactions running at once (the pool's size). */
  max: number
  stallMs: number
  acquireTimeoutMs: number
  probeTimeoutMs: number
  probeIntervalMs: number
  reconnectMaxMs: number
  /** Whether the probe may prepare its statement (false behind a pooler that cannot keep them). */
  prepare?: boolean
  onDown?: (err: Error) => void
  onUp?: (downForMs: number) => void
}

export interface GuardStats {
  /** False while the database is known down (the breaker is open). */
  up: boolean
  /** Queries and transactions refused without reaching the database, since start. */
  refused: number
  /** Queries and transactions waiting for a connection now. */
  waiting: number
}

export interface Guard {
  /** postgres.js options that route the pool's sockets and reconnects through the guard. */
  poolOptions: PoolHooks & {
    /** postgres.js's custom socket factory (its README, "Custom socket"): called with its parsed options. */
    socket: (options: { host: string[]; port: number[]; path?: string }) => net.Socket
  }
  /** The pool, guarded: what the app uses instead of the raw one. */
  wrap(sql: postgres.Sql): postgres.Sql
  breaker: Breaker
  stats(): GuardStats
  stop(): Promise<void>
}

// Errors that mean the server is gone, not that it refused this query.
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
])
export const isConnectionError = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && (CONNECTION_ERRORS.has(code) || code.startsWith('08'))
}

export function createGuard(opts: GuardOptions): Guard {
  const sockets = new Set<net.Socket>()
  const transactions = createTransactionWatch()
  const running = new Set<{ since: number }>() // queries and transactions holding a slot
  const waiting = new Set<{ since: number; grant: () => void; refuse: (err: Error) => void }>()
  let refused = 0
  let lastSuspect = 0
  let watchdog: NodeJS.Timeout | undefined

  // The probe has its own single connection (kept while it answers), so it measures the server,
  // not the pool's queue; it is ended and replaced after a failure.
  let probeSql: postgres.Sql | undefined
  const probe = async () => {
    probeSql ??= postgres(opts.url, {
      max: 1,
      idle_timeout: 60,
      max_lifetime: null,
      connect_timeout: Math.max(1, Math.ceil(opts.probeTimeoutMs / 1000)),
      backoff: () => 0,
      fetch_types: false,
      prepare: opts.prepare ?? true,
      connection: { application_name: 'keel-probe' },
      onnotice: () => {},
    })
    const current = probeSql
    try {
      await current`select 1`
    } catch (err) {
      if (probeSql === current) probeSql = undefined
      void current.end({ timeout: 0 }).catch(() => {})
      throw err
    }
  }

  const breaker = createBreaker({
    probe,
    timeoutMs: opts.probeTimeoutMs,
    intervalMs: opts.probeIntervalMs,
    // The server answered with an error (too many connections, a bad password...): it is up.
    isDown: (err) => !(err as { severity?: unknown }).severity || isConnectionError(err),
    onOpen: (err) => {
      if (probeSql) void probeSql.end({ timeout: 0 }).catch(() => {})
      probeSql = undefined
      cut()
      opts.onDown?.(err)
    },
    onClose: (ms) => opts.onUp?.(ms),
  })

  const unavailable = () => new DatabaseUnavailableError(undefined, Math.max(1, Math.ceil(opts.probeIntervalMs / 1000)))

  /** Known down: fail every waiting caller and every query on the wire now. */
  function cut() {
    for (const w of waiting) w.refuse(unavailable())
    for (const socket of sockets) if (!socket.destroyed) socket.destroy(unavailable())
    sockets.clear()
  }

  function gate() {
    if (!breaker.isOpen) return
    refused++
    throw unavailable()
  }

  function checkWatchdog() {
    const now = Date.now()
    let stalled = false
    for (const op of running) if (now - op.since >= opts.stallMs) stalled = true
    for (const w of waiting) {
      if (now - w.since >= opts.acquireTimeoutMs) {
        refused++
        w.refuse(new DatabaseUnavailableError('The database is busy; try again shortly'))
      } else if (now - w.since >= opts.stallMs) stalled = true
    }
    if (stalled && now - lastSuspect >= opts.stallMs) {
      lastSuspect = now
      breaker.suspect()
    }
    if (running.size === 0 && waiting.size === 0) {
      clearInterval(watchdog)
      watchdog = undefined
    }
  }
  const watch = () => {
    if (watchdog) return
    watchdog = setInterval(checkWatchdog, Math.max(20, Math.min(opts.stallMs, opts.acquireTimeoutMs) / 5))
    watchdog.unref()
  }

  /** A slot in the pool: now, or after the ones waiting before it, or an error (down, or waited too long). */
  function acquire(): Promise<() => void> {
    const op = { since: Date.now() }
    const release = () => {
      if (!running.delete(op)) return
      const next = waiting.values().next().value
      if (next) next.grant()
    }
    if (running.size < opts.max && waiting.size === 0) {
      running.add(op)
      watch()
      return Promise.resolve(release)
    }
    return new Promise((resolve, reject) => {
      const w = {
        since: op.since,
        grant: () => {
          waiting.delete(w)
          op.since = Date.now()
          running.add(op)
          resolve(release)
        },
        refuse: (err: Error) => {
          waiting.delete(w)
          reject(err)
        },
      }
      waiting.add(w)
      watch()
    })
  }

  /** Run a lazy postgres.js query only once it holds a slot; a connection error makes the breaker probe. */
  const guardQuery = <T>(query: T): T =>
    deferQuery(query, async () => {
      const release = await acquire()
      return (err?: unknown) => {
        release()
        if (err && isConnectionError(err)) breaker.suspect()
      }
    })

  return {
    poolOptions: {
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, opts.reconnectMaxMs / 1000) * (0.5 + Math.random() / 2),
      socket: ({ host, port, path }) => {
        const socket = deliverErrorWithClose(path ? net.connect(path) : net.connect(port[0]!, host[0]!))
        Object.assign(socket, { host: host[0] }) // (for TLS's servername)
        // postgres.js attaches its listeners a tick later (and removes them all on close).
        socket.on('error', () => {})
        for (const s of sockets) if (s.destroyed) sockets.delete(s)
        sockets.add(socket)
        if (breaker.isOpen) setImmediate(() => socket.destroy(unavailable()))
        return socket
      },
      onclose: transactions.onclose,
    },
    wrap(sql) {
      const { unsafe, begin, reserve } = sql
      // Mutated in place: `begin` calls the pool's own `unsafe` for its BEGIN, which must not take a
      // second slot (the transaction holds one).
      Object.assign(sql, {
        unsafe: (...args: Parameters<typeof unsafe>) => {
          if (isTransactionBegin(args[2])) {
            args[2] = transactions.noteBegin(args[2])
            return unsafe(...args)
          }
          gate()
          return guardQuery(unsafe(...args))
        },
        begin: async (...args: unknown[]) => {
          gate()
          const release = await acquire()
          try {
            return await transactions.begin(begin as (...a: unknown[]) => Promise<unknown>, args)
          } catch (err) {
            if (isConnectionError(err)) breaker.suspect()
            throw err
          } finally {
            release()
          }
        },
        reserve: (...args: Parameters<typeof reserve>) => {
          gate()
          return reserve(...args)
        },
      })
      return new Proxy(sql, {
        apply(target, thisArg, args) {
          const result = Reflect.apply(target, thisArg, args) as unknown
          if (!isPendingQuery(result)) return result
          gate()
          return guardQuery(result)
        },
      })
    },
    breaker,
    stats: () => ({ up: !breaker.isOpen, refused, waiting: waiting.size }),
    async stop() {
      breaker.stop()
      clearInterval(watchdog)
      watchdog = undefined
      for (const w of waiting) w.refuse(unavailable())
      await probeSql?.end({ timeout: 0 }).catch(() => {})
      probeSql = undefined
    },
  }
}
