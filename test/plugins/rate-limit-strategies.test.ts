// The three strategies, Redis and in-process twins alike: behaviour at the limit and across the
// window edge, on an injected clock (no sleeps). Plus atomicity under concurrency on real Redis TIME,
// and the leases the store's fast path takes (units counted in advance, given back unused).
import t from 'tap'

type Tap = Pick<typeof t, 'test'>
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { memoryLimiter, redisLimiter, type Clock, type Limiter, type Strategy } from '../../plugins/rate-limit/limiters.js'
import { needsRedis, redisUrl } from '../helpers/build.js'

type Make = (strategy: Strategy, clock?: Clock) => Limiter

const T0 = 1_700_000_000_000

async function hits(limiter: Limiter, key: string, n: number, max: number, windowMs: number) {
  const out = []
  for (let i = 0; i < n; i++) out.push(await limiter.hit(key, max, windowMs))
  return out
}
const allowedCount = (results: { allowed: boolean }[]) => results.filter((r) => r.allowed).length

function behaviour(t: Tap, name: string, make: () => Make) {
  t.test(`${name}: fixed window`, async (t) => {
    let now = T0
    const limiter = make()('fixed', () => now)
    const first = await hits(limiter, 'a', 3, 3, 1000)
    t.same(
      first.map((h) => [h.allowed, h.remaining]),
      [
        [true, 2],
        [true, 1],
        [true, 0],
      ],
      'counts down to zero',
    )
    now = T0 + 400
    const refused = await limiter.hit('a', 3, 1000)
    t.equal(refused.allowed, false, 'the 4th request in the window is refused')
    t.equal(refused.resetMs, 600, 'reset is the end of the window')
    now = T0 + 999
    t.equal((await limiter.hit('a', 3, 1000)).allowed, false, 'still refused 1 ms before the window ends')
    now = T0 + 1000
    const next = await limiter.hit('a', 3, 1000)
    t.same([next.allowed, next.remaining, next.resetMs], [true, 2, 1000], 'a new window starts at its first request')
    t.equal((await limiter.hit('b', 3, 1000)).remaining, 2, 'other keys have their own count')

    // The known weakness, and why sliding is the default: a burst on each side of the edge.
    now = T0 + 10_000
    await hits(limiter, 'edge', 1, 3, 1000) // opens a window at 10_000
    now = T0 + 10_990
    t.equal(allowedCount(await hits(limiter, 'edge', 2, 3, 1000)), 2)
    now = T0 + 11_000
    t.equal(allowedCount(await hits(limiter, 'edge', 3, 3, 1000)), 3, 'fixed allows max again 10 ms later')
  })

  t.test(`${name}: sliding window (log)`, async (t) => {
    let now = T0
    const limiter = make()('sliding', () => now)
    now = T0 + 990
    t.equal(allowedCount(await hits(limiter, 'a', 3, 3, 1000)), 3, 'max requests at the end of a window')
    now = T0 + 1000
    const refused = await limiter.hit('a', 3, 1000)
    t.equal(refused.allowed, false, 'no second burst just past where a fixed window would reset')
    t.equal(refused.resetMs, 990, 'retry when the oldest request leaves the window')
    now = T0 + 1989
    t.equal((await limiter.hit('a', 3, 1000)).allowed, false, 'still refused 1 ms before they expire')
    now = T0 + 1990
    t.equal(allowedCount(await hits(limiter, 'a', 4, 3, 1000)), 3, 'a full window later all 3 slots are free')

    // Spread requests free their slots one at a time.
    for (const at of [0, 500, 900]) {
      now = T0 + 10_000 + at
      await limiter.hit('spread', 3, 1000)
    }
    now = T0 + 11_000
    const one = await limiter.hit('spread', 3, 1000)
    t.same([one.allowed, one.remaining], [true, 0], 'the request from t=0 has left the window: one slot')
    const again = await limiter.hit('spread', 3, 1000)
    t.same([again.allowed, again.resetMs], [false, 500], 'the next slot frees when t=500 leaves')
  })

  t.test(`${name}: token bucket`, async (t) => {
    let now = T0
    const limiter = make()('token-bucket', () => now)
    // capacity 4, refilled over 4 s: 1 token per second sustained, bursts of 4.
    const burst = await hits(limiter, 'a', 5, 4, 4000)
    t.same(
      burst.map((h) => h.allowed),
      [true, true, true, true, false],
      'a burst of the capacity, then refused',
    )
    t.equal(burst[4]!.resetMs, 1000, 'retry when the next token arrives')
    now = T0 + 999
    t.equal((await limiter.hit('a', 4, 4000)).allowed, false, 'no token yet')
    now = T0 + 1000
    t.same(
      (await hits(limiter, 'a', 2, 4, 4000)).map((h) => h.allowed),
      [true, false],
      'one token per second sustained',
    )
    now = T0 + 60_000
    t.equal(allowedCount(await hits(limiter, 'a', 10, 4, 4000)), 4, 'an idle minute refills to the capacity, not beyond')

    // The rate is max per window: a bucket of 5 per 500 ms refills a token every 100 ms.
    t.equal(allowedCount(await hits(limiter, 'b', 6, 5, 500)), 5, 'capacity 5')
    now += 100
    t.equal(allowedCount(await hits(limiter, 'b', 2, 5, 500)), 1, 'one token per 100 ms')
  })
}

behaviour(t, 'memory', () => (strategy, clock) => memoryLimiter(strategy, clock))

const url = redisUrl()
t.test('redis', { skip: url ? false : needsRedis }, async (t) => {
  const prefix = `keel-test:rl-${randomBytes(4).toString('hex')}:`
  const redis = new Redis(url!, { keyPrefix: prefix })
  t.teardown(async () => {
    const admin = new Redis(url!) // KEYS ignores keyPrefix: clean up with an unprefixed client
    const keys = await admin.keys(`${prefix}*`)
    if (keys.length) await admin.del(...keys)
    admin.disconnect()
    redis.disconnect()
  })

  // The plugin's store namespaces keys by strategy (each uses another Redis type); do the same here.
  behaviour(t, 'redis', () => (strategy, clock) => {
    const limiter = redisLimiter(redis, strategy, clock)
    return { hit: (key, max, windowMs) => limiter.hit(`${strategy}:${key}`, max, windowMs) }
  })

  for (const strategy of ['fixed', 'sliding', 'token-bucket'] as const) {
    t.test(`${strategy} on Redis TIME is atomic: 40 concurrent requests, max 10`, async (t) => {
      const limiter = redisLimiter(redis, strategy)
      const results = await Promise.all(Array.from({ length: 40 }, () => limiter.hit(`race-${strategy}`, 10, 60_000)))
      t.equal(allowedCount(results), 10, 'exactly max admitted')
      const refused = results.find((r) => !r.allowed)!
      t.ok(refused.resetMs > 0 && refused.resetMs <= 60_000, `reset within the window (${refused.resetMs} ms)`)
    })

    t.test(`${strategy}: a check leases units counted in advance, never past max; a refund gives them back`, async (t) => {
      const limiter = redisLimiter(redis, strategy)
      const key = `lease-${strategy}`
      const first = await limiter.hit(key, 10, 60_000, 6)
      t.same([first.allowed, first.granted, first.remaining], [true, 6, 3], 'the request and 6 leased units are counted')
      const second = await limiter.hit(key, 10, 60_000, 6)
      t.same([second.allowed, second.granted, second.remaining], [true, 2, 0], 'only what fits is leased')
      t.equal((await limiter.hit(key, 10, 60_000)).allowed, false, 'the budget is spent')
      await first.refund(4)
      const after = await limiter.hit(key, 10, 60_000)
      t.same([after.allowed, after.remaining], [true, 3], 'four units given back: the next request fits, three left')
    })
  }
})
