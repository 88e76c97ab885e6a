// A read replica that lags, pauses and stops, under a running app (a primary and a streaming
// replica of the test's own, test/helpers/replica.ts): a user reads its own write while replay is
// paused; the lag shows in keel_db_replica_lag_seconds; a stopped replica sends reads to the
// primary (readiness `degraded`, 200) and, once back, reads return to it (`healthy`).
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildChecked, testConfig } from '../helpers/build.js'
import { account, product } from '../helpers/marketplace.js'
import { needsPgBinaries, startReplicaPair, type ReplicaPair } from '../helpers/replica.js'
import { waitFor } from '../helpers/wait.js'

let pair: ReplicaPair
// Its own Redis keys (the database is named keel here, as in other tests' own servers).
const prefix = `keel-test:replica-${process.pid}:`
let app: FastifyInstance

t.before(async () => {
  if (needsPgBinaries) return
  pair = await startReplicaPair(t)
  app = await buildChecked({
    config: testConfig(pair.primaryUrl(), {
      DATABASE_READ_URL: pair.replicaUrl(),
      REDIS_KEY_PREFIX: prefix,
      DB_REPLICA_CHECK_INTERVAL_MS: 200,
      DB_REPLICA_MAX_LAG_SECONDS: 3600,
      DB_READ_YOUR_WRITES_SECONDS: 30,
    }),
    logger: false,
  })
  t.teardown(() => app.close())
})

const listOf = async (headers: Record<string, string>, ownerId: string) => {
  const res = await app.inject({ url: `/api/v1/products?ownerId=${ownerId}`, headers })
  t.equal(res.statusCode, 200)
  return (res.json().data as { id: string }[]).map((p) => p.id)
}
const ready = async () => {
  const res = await app.inject({ url: '/health/ready' })
  return { status: res.statusCode, body: res.json() as { status: string; checks: Record<string, string> } }
}
const lagMetric = async () => {
  const text = (await app.inject({ url: '/metrics' })).body
  const line = text.split('\n').find((l) => l.startsWith('keel_db_replica_lag_seconds '))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

t.test('replay paused: the writer reads its own write, others read the replica, the lag shows', { skip: needsPgBinaries }, async (t) => {
  const seller = await account(app)
  const other = await account(app)
  await waitFor(async () => (await pair.onReplica(`select 1 from users where id = '${other.id}'`)).length === 1, {
    what: 'the replica to have the users',
  })
  await pair.onReplica('select pg_wal_replay_pause()')
  t.teardown(() => pair.onReplica('select pg_wal_replay_resume()'))

  const created = await product(app, seller, { name: 'Fresh lamp' })
  t.ok((await listOf(seller.headers, seller.id)).includes(created.id), 'the writer lists its new product (read on the primary)')
  t.same(await listOf(other.headers, seller.id), [], 'another user, who wrote nothing, reads the paused replica: not there yet')
  t.same(await listOf({}, seller.id), [], 'so does an anonymous reader')
  t.equal((await pair.onReplica(`select 1 from products where id = '${created.id}'`)).length, 0, 'the replica does not have it')

  // Writes keep coming while replay is paused: the lag grows past 0.
  const lag = await waitFor(
    async () => {
      await product(app, seller)
      const value = await lagMetric()
      return value !== undefined && value > 0 && value
    },
    { what: 'keel_db_replica_lag_seconds > 0', intervalMs: 250 },
  )
  t.ok(lag > 0, `keel_db_replica_lag_seconds is ${lag} while replay is paused`)
  t.equal((await ready()).body.checks.replica, 'ok', 'within DB_REPLICA_MAX_LAG_SECONDS the replica still serves')

  await pair.onReplica('select pg_wal_replay_resume()')
  await waitFor(async () => (await lagMetric()) === 0, { what: 'the lag back to 0 once replay resumes' })
  t.ok((await listOf(other.headers, seller.id)).includes(created.id), 'replay resumed: everyone sees it')
})

t.test('the replica stopped: reads answer from the primary, readiness degraded; back: healthy', { skip: needsPgBinaries }, async (t) => {
  const seller = await account(app)
  const created = await product(app, seller, { name: 'Lamp while the replica is down' })
  t.equal((await ready()).body.status, 'healthy', 'healthy with the replica up')
  await pair.stopReplica()
  t.ok((await listOf({}, seller.id)).includes(created.id), 'an anonymous list answers at once (from the primary)')
  const degraded = await waitFor(
    async () => {
      const r = await ready()
      return r.body.status === 'degraded' && r
    },
    { what: 'readiness degraded' },
  )
  t.equal(degraded.status, 200, 'degraded answers 200: the balancer keeps the instance')
  t.equal(degraded.body.checks.replica, 'down', 'the replica check is named')
  t.equal(degraded.body.checks.database, 'ok')

  await pair.startReplica()
  await waitFor(async () => (await ready()).body.status === 'healthy', { what: 'readiness healthy again', timeoutMs: 30_000 })
  t.equal((await ready()).body.checks.replica, 'ok', 'the replica serves again, by itself')
  t.ok((await listOf({}, seller.id)).includes(created.id), 'lists answer')
})

t.test('too far behind: reads go to the primary and readiness says degraded', { skip: needsPgBinaries }, async (t) => {
  const lagging = await buildChecked({
    config: testConfig(pair.primaryUrl(), {
      DATABASE_READ_URL: pair.replicaUrl(),
      REDIS_KEY_PREFIX: prefix,
      DB_REPLICA_CHECK_INTERVAL_MS: 200,
      DB_REPLICA_MAX_LAG_SECONDS: 0,
      DB_MIGRATE: false,
    }),
    logger: false,
  })
  t.teardown(() => lagging.close())
  const seller = await account(lagging)
  await pair.onReplica('select pg_wal_replay_pause()')
  t.teardown(() => pair.onReplica('select pg_wal_replay_resume()'))
  const created = await product(lagging, seller)
  const degraded = await waitFor(
    async () => {
      await product(lagging, seller)
      const res = await lagging.inject({ url: '/health/ready' })
      return res.json().status === 'degraded' && res
    },
    { what: 'readiness degraded past DB_REPLICA_MAX_LAG_SECONDS', intervalMs: 300 },
  )
  t.equal(degraded.statusCode, 200)
  t.equal(degraded.json().checks.replica, 'down')
  const res = await lagging.inject({ url: `/api/v1/products?ownerId=${seller.id}` })
  t.ok(
    (res.json().data as { id: string }[]).some((p) => p.id === created.id),
    'an anonymous list reads the primary: it has the product',
  )
})
