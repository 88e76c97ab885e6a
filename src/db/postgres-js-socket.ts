// A workaround for postgres.js 3.4.9, quarantined here: it relies on when the driver reads its
// socket's events. Remove it when test/faults/postgres-js-socket.test.ts says the driver no longer
// needs it (its first test then fails).
//
// A net.Socket that fails emits 'error' at once and 'close' only once its handle is closed, a turn
// of the event loop later. postgres.js rejects the query in flight on 'error' but goes on using the
// connection until 'close': a query sent in between (a transaction's ROLLBACK after the error, the
// next request's query) is never answered nor rejected, and stays queued across the reconnect. The
// connection's next answers then go to the wrong queries, and one of them waits forever: after the
// database came back, a request hung with its transaction open. Upstream: porsager/postgres#1142
// (a failed query is left in place) and #1215 (work sent on a connection that is closing).
import type net from 'node:net'

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
