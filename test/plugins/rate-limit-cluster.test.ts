// The limiter's stores and the failed-login budgets on a real Redis Cluster of three masters (started
// here): every script names the keys of one slot — one key, or an account's keys under one hash tag —
// so none is refused with CROSSSLOT; budgets stay exact, across two instances too; the keys spread
// over every master; and the cluster does refuse a script whose keys span two slots.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Cluster } from 'ioredis'
import { createStoreClass } from '../../plugins/rate-limit/store.js'
import { STRATEGIES, type Strategy } from '../../plugins/rate-limit/limiters.js'
import { createLoginFailures, type LoginRefusal } from '../../plugins/rate-limit/login-failures.js'
import { hasRedisCluster, startRedisCluster } from '../helpers/redis-cluster.js'

type Result = { current: number; ttl: number }

t.test('rate limiting on a Redis Cluster', { skip: hasRedisCluster ? false : 'needs redis-server and redis-cli on PATH' }, async (t) => {
  const cluster = await startRedisCluster()
  t.teardown(() => cluster.stop())
  /** One instance's connection, as the plugin makes it: prefixed, auto-pipelined. */
  const connect = () => {
    const client = new Cluster(cluster.nodes, { keyPrefix: 'keel-test:', enableAutoPipelining: true })
    t.teardown(() => client.disconnect())
    return client
  }
  const [one, two] = [connect(), connect()]
  const errors: Error[] = []
  const store = (client: Cluster, strategy: Strategy) => {
    const Store = createStoreClass({ redis: client, defaultStrategy: strategy, failOpen: false, onError: (e) => errors.push(e), onOk() {} })
    const s = new Store({ namespace: 'cluster' })
    const incr = (key: string, max: number) =>
      // An hour's window: the token bucket refills one token in 36 s, none during the test.
      new Promise<Result>((resolve, reject) => s.incr(key, (err, res) => (err ? reject(err) : resolve(res!)), 3_600_000, max))
    return { Store, incr }
  }
  const admitted = (results: Result[], max: number) => results.filter((r) => r.current <= max).length

  t.test('the control: a script naming keys of two slots is refused', async (t) => {
    const plain = new Cluster(cluster.nodes)
    t.teardown(() => plain.disconnect())
    await t.rejects(plain.eval("return redis.call('MGET', KEYS[1], KEYS[2])", 2, 'a', 'b'), /CROSSSLOT/)
  })

  for (const strategy of STRATEGIES) {
    t.test(`${strategy}: exact on forty keys, across two instances, leases given back`, async (t) => {
      const [a, b] = [store(one, strategy), store(two, strategy)]
      const keys = Array.from({ length: 40 }, (_, i) => `user:${strategy}-${i}`)
      // Far from the limit (leases), then past it, alternating instances: exactly 100 of 130 per key.
      const results = await Promise.all(
        keys.map(async (key) => {
          const seen: Result[] = []
          for (let i = 0; i < 130; i++) seen.push(await (i % 2 ? a : b).incr(key, 100))
          return admitted(seen, 100)
        }),
      )
      t.same([...new Set(results)], [100], 'exactly 100 admitted on every key')
      // Concurrent bursts from both instances never get past the limit.
      const burst = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).incr(`burst-${strategy}`, 20)))
      t.ok(admitted(burst, 20) <= 20, `${admitted(burst, 20)} of 60 admitted at once, at most 20`)
      await Promise.all([a.Store.close(), b.Store.close()])
      t.same(errors, [], 'no command failed')
    })
  }

  t.test('the keys spread over the three masters', async (t) => {
    const sizes = await Promise.all(one.nodes('master').map((node) => node.dbsize()))
    t.equal(sizes.length, 3)
    t.ok(
      sizes.every((n) => n > 10),
      `keys per master: ${sizes.join(', ')}`,
    )
  })

  t.test('failed-login budgets: exact per client and per account, a device keeps its own', async (t) => {
    const budgets = { windowMs: 60_000, client: 1000, clientAccount: 3, account: 6, delayMs: 0 }
    const secret = randomBytes(32) // (the instances share it: JWT_SECRET)
    const failures = (client: Cluster) =>
      createLoginFailures({
        redis: client,
        budgets,
        secret,
        secureCookie: false,
        failOpen: false,
        refused: (refusal) => Object.assign(new Error(refusal.budget), refusal),
        unavailable: () => new Error('unavailable'),
        onError: (e) => errors.push(e),
        onOk() {},
      })
    const [a, b] = [failures(one), failures(two)]
    const outcome = (attempt: Promise<unknown>) =>
      attempt.then(
        () => 'checked',
        (e: LoginRefusal) => e.budget,
      )

    for (let n = 0; n < 12; n++) {
      const account = `user-${n}@example.com`
      const fromOne = [0, 1, 2, 3].map(() => outcome(a.begin({ account, ip: '10.0.0.1' })))
      t.same(
        (await Promise.all(fromOne)).sort(),
        ['checked', 'checked', 'checked', 'client-account'],
        `${account}: one address, 3 failures`,
      )
      const many = await Promise.all([2, 3, 4, 5, 6].map((i) => outcome(b.begin({ account, ip: `10.0.0.${i}` }))))
      t.same(many.sort(), ['account', 'account', 'checked', 'checked', 'checked'], `${account}: the account ceiling of 6, exactly`)
    }

    const account = 'owner@example.com'
    const token = await (await a.begin({ account, ip: '10.1.0.1' })).succeeded()
    for (let i = 0; i < 6; i++) await outcome(b.begin({ account, ip: `10.1.1.${i}` }))
    t.equal(await outcome(a.begin({ account, ip: '10.1.2.1' })), 'account', 'strangers spent the ceiling')
    const device = await b.begin({ account, ip: '10.1.2.2', device: token })
    t.ok(await device.succeeded(), 'the device that logged in before is let through, on the other instance too')
    t.same(errors, [], 'no command failed')
  })
})
