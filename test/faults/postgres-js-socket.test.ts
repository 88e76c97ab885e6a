// The postgres.js workaround in src/db/postgres-js.ts (deliverErrorWithClose): a query sent on a connection whose
// socket has failed but not yet closed. Without the workaround the driver loses track of it (the
// first test: when it fails after an upgrade, the driver is fixed and the workaround can go); with
// it, that query fails at once and the connection's next queries get their own answers.
import t from 'tap'
import net from 'node:net'
import postgres from 'postgres'
import { deliverErrorWithClose } from '../../src/db/postgres-js.js'
import { createPool } from '../../src/db/client.js'
import { adminUrl, testConfig } from '../helpers/build.js'
import { waitFor } from '../helpers/wait.js'

type Tap = { teardown: (fn: () => unknown) => void }

/** A pool of one connection whose current socket the test can break. */
function pool(t: Tap, workaround: boolean) {
  let socket: net.Socket | undefined
  const sql = postgres(adminUrl(), {
    max: 1,
    onnotice: () => {},
    backoff: () => 0,
    socket: ({ host, port }: { host: string[]; port: number[] }) => {
      socket = net.connect(port[0]!, host[0]!)
      socket.on('error', () => {})
      return workaround ? deliverErrorWithClose(socket) : socket
    },
  } as postgres.Options<Record<string, never>>)
  t.teardown(() => sql.end({ timeout: 0 }))
  return {
    sql,
    /** Break the socket (as a reset does) and resolve once it has closed. */
    break: () =>
      new Promise<void>((resolve) => {
        socket!.once('close', () => resolve())
        socket!.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
      }),
  }
}

/** How a query settles, within `ms` (a lost query never does). */
const outcome = (query: Promise<unknown>, ms = 5000) =>
  Promise.race([
    query.then(
      (rows) => ({ rows: [...(rows as object[])] }),
      (err: Error) => ({ error: err.message }),
    ),
    new Promise((resolve) => setTimeout(() => resolve('not settled'), ms).unref()),
  ])

/** A query in flight when the socket fails, then one sent after the error but before the close. */
async function sendInTheGap(sql: postgres.Sql, broken: Promise<void>) {
  const inFlight = sql`select 1 as one`.execute()
  const failed = await outcome(inFlight)
  const late = outcome(sql`select 2 as two`.execute())
  await broken
  return { failed, late }
}

t.test('postgres.js alone loses a query sent between a socket error and its close', async (t) => {
  const { sql, break: breakSocket } = pool(t, false)
  await sql`select 0`
  const { failed, late } = await sendInTheGap(sql, breakSocket())
  t.match(failed, { error: /ECONNRESET/ }, 'the query in flight fails')
  t.same(await outcome(sql`select 3 as three`), { rows: [{ three: 3 }] }, 'the reconnect runs the next query')
  t.equal(await late, 'not settled', 'but the late query is neither answered nor failed (the driver bug the workaround is for)')
})

t.test('with deliverErrorWithClose: the error comes with the close, and every query gets its own answer', async (t) => {
  const { sql, break: breakSocket } = pool(t, true)
  await sql`select 0`
  const { failed, late } = await sendInTheGap(sql, breakSocket())
  t.match(failed, { error: /ECONNRESET/ }, 'the query in flight fails')
  t.same(await late, { rows: [{ two: 2 }] }, 'the next query is answered, on the reconnected connection')
  t.same(await outcome(sql`select 3 as three`), { rows: [{ three: 3 }] })
})

t.test('the guarded pool: a transaction cut by the breaker leaves its connection fit for the next one', async (t) => {
  // One connection, so the next transaction reuses the one whose socket was cut.
  const { sql, guard } = createPool(adminUrl(), testConfig(adminUrl(), { DB_POOL_MAX: 1, DB_PROBE_INTERVAL_MS: 100 }))
  t.teardown(async () => {
    await guard.stop()
    await sql.end({ timeout: 0 })
  })
  await sql`select 0`
  for (let round = 1; round <= 3; round++) {
    const cut = outcome(
      sql.begin(async (tx) => {
        const running = tx`select pg_sleep(0.2)`.execute()
        await new Promise((resolve) => setImmediate(resolve))
        guard.breaker.trip(new Error('the database stopped answering')) // as a failed probe does: every socket cut
        await running
      }),
    )
    t.match(await cut, { error: /CONNECTION_CLOSED|unavailable/ }, `round ${round}: the transaction fails (a 503 to its client)`)
    await waitFor(() => !guard.breaker.isOpen, { what: 'the breaker to close again' })
    t.same(
      await outcome(sql.begin((tx) => tx`select ${round} as round`)),
      { rows: [{ round }] },
      `round ${round}: the next transaction runs, with its own answer`,
    )
  }
})
