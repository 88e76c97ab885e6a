// postgres.js 3's private behaviour that the database guard (guard.ts) relies on, all of it here.
// test/db/postgres-js.test.ts fails when an upgrade changes any of it. Each piece says why and when it
// can go; all of it goes with postgres.js 4, which has the options that make it unnecessary
// (queue_timeout, query_timeout, cancel_timeout) and no longer writes on a closed connection. Keel
// stays on 3.4 until Drizzle supports 4 (README, "Known differences").
import type net from 'node:net'
import type postgres from 'postgres'

/**
 * A lazy query, before it runs. postgres.js 3 builds a Query (a Promise subclass whose `then` starts
 * it) and runs it by calling `query.handler(query)` once, when it is first awaited; `reject` fails it.
 * Not in postgres.js's types. Used to hold a query until it has a slot in the pool: postgres.js 3 has
 * no bound on waiting for a connection (4 has queue_timeout).
 */
interface Query {
  handler: ((q: Query) => void) & { debug?: unknown }
  reject: (err: unknown) => void
  executed: boolean
}

export const isPendingQuery = (x: unknown): boolean =>
  x instanceof Promise && typeof (x as { handler?: unknown }).handler === 'function' && 'executed' in x

/**
 * Run `before` when postgres.js would run the query, and the query only once it resolves; `before`
 * resolves to what to call once the query settled (with its error, if it failed). When `before`
 * rejects, the query rejects with that error and is never sent.
 */
export function deferQuery<Q>(query: Q, before: () => Promise<(err?: unknown) => void>): Q {
  if (!isPendingQuery(query)) return query // an identifier or fragment helper, not a query
  const q = query as unknown as Query
  const handler = q.handler
  const deferred = (self: Query) => {
    before().then(
      (after) => {
        // Promise.prototype.then, not the query's own then (which would start it a second time).
        Promise.prototype.then.call(
          self,
          () => after(),
          (err: unknown) => after(err),
        )
        handler(self)
      },
      (err: unknown) => self.reject(err),
    )
  }
  deferred.debug = handler.debug
  q.handler = deferred
  return query
}

/**
 * postgres.js 3's `begin()` sends its BEGIN through the pool's own `sql.unsafe(text, [], { onexecute })`,
 * where `onexecute` (not in its types) is called with the connection the transaction runs on. It is
 * the only caller that passes one: a wrapped `unsafe` tells a transaction's BEGIN apart by it.
 */
export const isTransactionBegin = (options: unknown): boolean =>
  typeof (options as { onexecute?: unknown } | undefined)?.onexecute === 'function'

/** Pool options postgres.js 3 reads but types only on its parsed options: a reconnect delay, and a connection closed. */
export interface PoolHooks {
  backoff: (retries: number) => number
  onclose: (connectionId: number) => void
}
export type PoolOptions = postgres.Options<Record<string, never>> & Partial<PoolHooks>

/** A transaction in progress: its connection (once BEGIN is sent) and whether that connection closed. */
interface Transaction {
  connection?: number
  lost: boolean
}
type Scope = ((...args: unknown[]) => unknown) & { savepoint?: (...args: unknown[]) => Promise<unknown> }
const never = new Promise<never>(() => {})

/**
 * postgres.js 3, once a transaction's connection has closed, still sends that transaction's ROLLBACK
 * (or COMMIT) on it when the callback settles, and writes to a socket that is gone: an uncaught
 * TypeError that ends the process (https://github.com/porsager/postgres/issues/1133 and /issues/1208;
 * fixes proposed in /pull/1209 and /pull/1215, not released in 3.x). So a transaction whose connection
 * is lost never settles its callback (nor its savepoints'): the caller has its error already (begin()
 * rejects on close), nothing more is sent, and the server rolls back a transaction whose connection is
 * gone. Can go with a postgres.js that skips that write (4.x does; the test says when 3.x does).
 */
export function createTransactionWatch() {
  const transactions = new Set<Transaction>()
  let starting: Transaction | undefined // the transaction whose BEGIN is being created (synchronously)

  const settleUnlessLost = <T>(tx: Transaction, result: T | Promise<T>): Promise<T> =>
    Promise.resolve(result).then(
      (value) => (tx.lost ? never : value),
      (err: unknown) => (tx.lost ? never : Promise.reject(err)),
    )
  const guardScope = (tx: Transaction, sql: Scope): Scope => {
    const savepoint = sql.savepoint
    if (savepoint) {
      sql.savepoint = (...args: unknown[]) => {
        const i = args.length - 1
        const fn = args[i] as (s: Scope) => unknown
        args[i] = (inner: Scope) => settleUnlessLost(tx, fn(guardScope(tx, inner)))
        return savepoint(...args)
      }
    }
    return sql
  }

  return {
    /** postgres.js's `onclose` option: a connection closed; the transaction on it (if any) is lost. */
    onclose(connectionId: number) {
      for (const tx of transactions) if (tx.connection === connectionId) tx.lost = true
    },
    /** The options of a transaction's BEGIN (isTransactionBegin), noting the connection it runs on. */
    noteBegin<O>(options: O): O {
      const tx = starting
      const onexecute = (options as { onexecute: (c: { id: number }) => unknown }).onexecute
      return {
        ...options,
        onexecute: (c: { id: number }) => {
          if (tx) tx.connection = c.id
          return onexecute(c)
        },
      }
    },
    /** Run the pool's own begin() with these arguments, its callback (and savepoints) watched. */
    async begin(begin: (...args: unknown[]) => Promise<unknown>, args: unknown[]): Promise<unknown> {
      const tx: Transaction = { lost: false }
      const i = args.length - 1
      const fn = args[i] as (sql: Scope) => unknown
      args[i] = (scope: Scope) => settleUnlessLost(tx, fn(guardScope(tx, scope)))
      transactions.add(tx)
      starting = tx
      let running: Promise<unknown>
      try {
        running = begin(...args)
      } finally {
        starting = undefined
      }
      try {
        return await running
      } finally {
        transactions.delete(tx)
      }
    },
  }
}

// The socket's error before its close. Tested by test/faults/postgres-js-socket.test.ts, whose first
// check fails once the driver no longer needs this (then remove it).
// A net.Socket that fails emits 'error' at once and 'close' only once its handle is closed, a turn
// of the event loop later. postgres.js rejects the query in flight on 'error' but goes on using the
// connection until 'close': a query sent in between (a transaction's ROLLBACK after the error, the
// next request's query) is never answered nor rejected, and stays queued across the reconnect. The
// connection's next answers then go to the wrong queries, and one of them waits forever: after the
// database came back, a request hung with its transaction open. Upstream: porsager/postgres#1142
// (a failed query is left in place) and #1215 (work sent on a connection that is closing).

/**
 * Holds a socket's 'error' back until its 'close' and delivers both in one tick: postgres.js then
 * sees its connection closed before anything else can use it, and fails every query on it.
 */
export function deliverErrorWithClose(socket: net.Socket): net.Socket {
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean
  let error: unknown[] | undefined
  socket.emit = ((event: string | symbol, ...args: unknown[]) => {
    if (event === 'error') {
      error ??= args
      return true
    }
    if (event === 'close' && error) emit('error', ...error)
    return emit(event, ...args)
  }) as net.Socket['emit']
  return socket
}
