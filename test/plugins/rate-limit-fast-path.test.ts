// The Redis stores' local fast path: far from the limit, an exact check also leases units counted
// in advance, and the next requests are answered locally from them (far fewer script calls; what is
// not used is given back, so Redis then holds exactly what was admitted); near the limit every
// request is an exact Redis check; several instances together never admit more than the limit.
// Real Redis; script calls are counted by wrapping sendCommand.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Redis, type Command } from 'ioredis'
import { createStoreClass, FAST_PATH, type StoreContext } from '../../plugins/rate-limit/store.js'
import { STRATEGIES, type Strategy } from '../../plugins/rate-limit/limiters.js'
import { needsRedis, redisUrl } from '../helpers/build.js'
import { waitFor } from '../helpers/wait.js'

type Result = { current: number; ttl: number }

const url = redisUrl()

t.test('fast path (Redis)', { skip: url ? false : needsRedis }, async (t) => {
  const prefix = `keel-test:rl-fast-${randomBytes(4).toString('hex')}:`
  const admin = new Redis(url!) // unprefixed: reads the stores' keys and cleans up
  t.teardown(async () => {
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length) await admin.del(...keys)
    admin.disconnect()
  })

  /** A client whose script calls are counted (and can be made to fail). */
  function client() {
    const redis = new Redis(url!, { keyPrefix: prefix })
    t.teardown(() => redis.disconnect())
    const stats = { scripts: 0, failing: false }
    const send = redis.sendCommand.bind(redis)
    redis.sendCommand = ((command: Command, stream?: unknown) => {
      if (command.name === 'evalsha' || command.name === 'eval') {
        stats.scripts++
        if (stats.failing) {
          command.reject(new Error('simulated Redis failure'))
          return command.promise
        }
      }
      return (send as (c: Command, s?: unknown) => unknown)(command, stream)
    }) as typeof redis.sendCommand
    return { redis, stats }
  }

  function store(redis: Redis, strategy: Strategy, extra: Partial<StoreContext> = {}) {
    const errors: Error[] = []
    const Store = createStoreClass({
      redis,
      defaultStrategy: strategy,
      failOpen: true,
      onError: (e) => errors.push(e),
      onOk() {},
      ...extra,
    })
    const s = new Store({ strategy, namespace: 'fast' })
    // A day's window: the token bucket refills one of 1000 tokens in 86 s, none during a test however slow the machine.
    const incr = (key: string, max: number, windowMs = 86_400_000) =>
      new Promise<Result>((resolve, reject) => s.incr(key, (err, res) => (err ? reject(err) : resolve(res!)), windowMs, max))
    return { Store, incr, errors }
  }

  /** What Redis holds for the key: requests counted (token bucket: tokens used, rounded). */
  async function countInRedis(strategy: Strategy, key: string, max: number): Promise<number> {
    const full = `${prefix}rl:${strategy}:fast:${key}`
    if (strategy === 'sliding') return admin.zcard(full)
    if (strategy === 'fixed') return Number(await admin.hget(full, 'c'))
    return Math.round(max - Number(await admin.hget(full, 't')))
  }

  for (const strategy of STRATEGIES) {
    t.test(
      `${strategy}: far from the limit, 100 requests cost a few script calls; Redis has all 100 once leases are given back`,
      async (t) => {
        const { redis, stats } = client()
        const { Store, incr } = store(redis, strategy)
        const currents: number[] = []
        for (let i = 0; i < 100; i++) currents.push((await incr('far', 1000)).current)
        t.same(
          currents,
          Array.from({ length: 100 }, (_, i) => i + 1),
          'the local answers count up like Redis would',
        )
        t.ok(stats.scripts < 10, `${stats.scripts} script calls for 100 requests`)
        await Store.flush()
        // token bucket: a few tokens may have refilled meanwhile (1000 per minute).
        const counted = await countInRedis(strategy, 'far', 1000)
        if (strategy === 'token-bucket') t.ok(counted >= 95 && counted <= 100, `~100 tokens used (${counted})`)
        else t.equal(counted, 100, 'every request is counted in Redis')

        // Concurrent bursts too: 200 at once, then flushed.
        await Promise.all(Array.from({ length: 50 }, () => incr('far', 1000)))
        await Store.flush()
        const after = await countInRedis(strategy, 'far', 1000)
        if (strategy === 'token-bucket') t.ok(after >= 140 && after <= 150, `~150 tokens used (${after})`)
        else t.equal(after, 150)
      },
    )

    t.test(`${strategy}: near the limit every answer is exact (40 concurrent, max 10; then 60 concurrent, max 40)`, async (t) => {
      const { redis } = client()
      const { Store, incr } = store(redis, strategy)
      const first = await Promise.all(Array.from({ length: 40 }, () => incr('near', 10)))
      t.equal(first.filter((r) => r.current <= 10).length, 10, 'exactly 10 admitted')

      // A limit where the first requests are answered locally (40 × 0.5 / 4 = 5), then a burst.
      const seq: Result[] = []
      for (let i = 0; i < 4; i++) seq.push(await incr('edge', 40))
      const burst = await Promise.all(Array.from({ length: 60 }, () => incr('edge', 40)))
      t.equal([...seq, ...burst].filter((r) => r.current <= 40).length, 40, 'exactly 40 of 64 admitted')
      await Store.flush()
      const counted = await countInRedis(strategy, 'edge', 40)
      if (strategy === 'token-bucket') t.ok(counted >= 39, `the bucket is (nearly) empty (${counted} used)`)
      else t.equal(counted, 40, 'and Redis holds exactly 40')
    })
  }

  t.test('two instances (two stores, two connections) share one count', async (t) => {
    const a = store(client().redis, 'fixed')
    const b = store(client().redis, 'fixed')
    for (let i = 0; i < 50; i++) {
      await a.incr('shared', 1000)
      await b.incr('shared', 1000)
    }
    await Promise.all([a.Store.flush(), b.Store.flush()])
    t.equal(await countInRedis('fixed', 'shared', 1000), 100)
    // Local answers may lag the other instance's unsent hits (bounded: max × fraction / instances);
    // an exact check sees both (a lower max leaves the fast-path zone: 200 × 0.5 / 4 < 100).
    t.equal((await a.incr('shared', 200)).current, 101, "an exact check on instance a counts b's hits too")
  })

  t.test('an unused lease is given back by itself once stale', async (t) => {
    const { redis } = client()
    const { incr } = store(redis, 'fixed', { fastPath: { freshMs: 100 } })
    for (let i = 0; i < 30; i++) await incr('timer', 1000)
    await waitFor(async () => (await countInRedis('fixed', 'timer', 1000)) === 30, { what: 'the unused lease to be given back' })
    t.pass('Redis holds the 30 requests, not the leased units')
  })

  t.test('Redis failing: leased units still answer (they are counted), then checks fail open; a failed give-back is retried', async (t) => {
    const { redis, stats } = client()
    const giveBackErrors: Error[] = []
    const { Store, incr, errors } = store(redis, 'fixed', {
      fastPath: { retryMs: 50 },
      onFlushError: (e) => giveBackErrors.push(e),
    })
    for (let i = 0; i < 20; i++) await incr('down', 1000)
    stats.failing = true
    const before = stats.scripts
    for (let i = 0; i < 5; i++) await incr('down', 1000)
    t.equal(stats.scripts, before, 'answered from the lease, without Redis')
    await Store.flush() // resolves: the failure is reported, not thrown
    t.equal(giveBackErrors.length, 1, 'the failed give-back is reported')
    // No lease left: the next request is an exact check, which fails (fail open: the error reaches the plugin).
    await t.rejects(incr('down', 1000), /simulated Redis failure/)
    t.equal(errors.length, 1, 'counted as a failed check')
    stats.failing = false
    await waitFor(async () => (await countInRedis('fixed', 'down', 1000)) === 25, { what: 'the retried give-back' })
    t.pass('the 25 requests admitted are what Redis holds once it is back')
  })

  t.test('two instances never admit more than max together', async (t) => {
    // A leases while the key is far from its limit; B then spends the rest; A's local answers are
    // the units it leased, counted in Redis before B's checks: 20 admitted, not 21 or 22.
    const a = store(client().redis, 'sliding')
    const b = store(client().redis, 'sliding')
    const admitted = (results: Result[]) => results.filter((r) => r.current <= 20).length
    const seen: Result[] = [await a.incr('pair', 20), await a.incr('pair', 20)]
    for (let i = 0; i < 30; i++) seen.push(await b.incr('pair', 20))
    for (let i = 0; i < 5; i++) seen.push(await a.incr('pair', 20))
    t.equal(admitted(seen), 20, 'one after the other: exactly 20')

    // Three concurrent bursts of 60 from both instances (a key warmed by two requests, so it has a lease).
    for (const burst of [1, 2, 3]) {
      const key = `burst-${burst}`
      const warm = [await a.incr(key, 20), await b.incr(key, 20), await a.incr(key, 20), await b.incr(key, 20)]
      const results = await Promise.all(Array.from({ length: 56 }, (_, i) => (i % 2 ? a : b).incr(key, 20)))
      t.ok(admitted([...warm, ...results]) <= 20, `burst ${burst}: ${admitted([...warm, ...results])} of 60 admitted, at most 20`)
      await Promise.all([a.Store.flush(), b.Store.flush()])
      t.ok((await countInRedis('sliding', key, 20)) <= 20, 'and Redis holds no more than 20')
    }
  })

  t.test('a huge limit leases at most maxLease units per call (a lease is one script call)', async (t) => {
    const { redis } = client()
    const { incr } = store(redis, 'sliding')
    for (let i = 0; i < 3; i++) await incr('huge', 1e12)
    const counted = await countInRedis('sliding', 'huge', 1e12)
    t.ok(counted <= 2 + FAST_PATH.maxLease, `${counted} members in Redis (2 requests + at most ${FAST_PATH.maxLease} leased)`)
  })

  t.test('fastPath: false makes every check exact', async (t) => {
    const { redis, stats } = client()
    const { incr } = store(redis, 'sliding', { fastPath: false })
    for (let i = 0; i < 20; i++) await incr('exact', 1000)
    t.equal(stats.scripts >= 20, true, `${stats.scripts} script calls`)
    t.equal(await countInRedis('sliding', 'exact', 1000), 20)
  })
})
