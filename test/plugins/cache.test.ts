// The cache: cache-aside with single-flight, cached list totals, both backends, and what a user
// sees when Redis stops (a redis-server of its own on a free port, killed and restarted).
import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyBaseLogger } from 'fastify'
import { build, redisUrl, needsRedis } from '../helpers/build.js'
import { freePort, startRedis, stopRedis } from '../helpers/redis-server.js'
import { waitFor } from '../helpers/wait.js'
import { account, product } from '../helpers/marketplace.js'
import { createCache, memoryStore, type Cache } from '../../plugins/cache.js'

const silent = { warn: () => {}, info: () => {} } as unknown as FastifyBaseLogger

function deferred<T>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/** The same behaviour, whatever the backend. */
function behaviour(
  name: string,
  make: (t: { teardown: (fn: () => unknown) => void }) => Promise<Cache>,
  options: { skip?: string | false } = {},
) {
  t.test(`${name}: get/set/del round-trip JSON`, { skip: options.skip ?? false }, async (t) => {
    const cache = await make(t)
    t.equal(await cache.get('a'), undefined)
    await cache.set('a', { n: 1, list: ['x'], nothing: null })
    t.same(await cache.get('a'), { n: 1, list: ['x'], nothing: null })
    await cache.del('a')
    t.equal(await cache.get('a'), undefined)
    t.match(cache.stats(), { hits: 1, misses: 2, errors: 0 })
  })

  t.test(`${name}: concurrent misses of one key load it once`, { skip: options.skip ?? false }, async (t) => {
    const cache = await make(t)
    const gate = deferred<void>()
    let loads = 0
    const loader = async () => {
      loads++
      await gate.promise
      return { value: 42 }
    }
    const all = Promise.all(Array.from({ length: 20 }, () => cache.wrap('k', 60, loader)))
    gate.resolve()
    t.same(await all, Array(20).fill({ value: 42 }))
    t.equal(loads, 1)
    t.same(await cache.wrap('k', 60, loader), { value: 42 })
    t.equal(loads, 1, 'then served from the cache')
  })

  t.test(`${name}: a key deleted while loading is not stored with the pre-delete value`, { skip: options.skip ?? false }, async (t) => {
    const cache = await make(t)
    const gate = deferred<void>()
    const loading = cache.wrap('p', 60, async () => {
      await gate.promise
      return 'old'
    })
    await new Promise((resolve) => setImmediate(resolve))
    await cache.del('p') // a write committed meanwhile
    gate.resolve()
    t.equal(await loading, 'old', 'the caller still gets its answer')
    t.equal(await cache.get('p'), undefined, 'but it is not cached')
    t.equal(await cache.wrap('p', 60, async () => 'new'), 'new')
  })

  t.test(`${name}: list totals are cached per filter set until the namespace changes`, { skip: options.skip ?? false }, async (t) => {
    const cache = await make(t)
    let counts = 0
    const count = (n: number) => async () => {
      counts++
      return n
    }
    t.equal(await cache.count('things', { status: 'a', q: undefined }, count(5)), 5)
    t.equal(await cache.count('things', { status: 'a' }, count(99)), 5, 'same filters (undefined ignored): cached')
    t.equal(await cache.count('things', { status: 'b' }, count(7)), 7, 'other filters: their own total')
    t.equal(counts, 2)
    await cache.invalidateCounts('things')
    t.equal(await cache.count('things', { status: 'a' }, count(6)), 6, 'recounted after a write')
    t.equal(await cache.count('other', { status: 'a' }, count(1)), 1, 'namespaces are separate')
  })
}

behaviour('memory', async () =>
  createCache({ redis: null, log: silent, defaultTtlSeconds: 60, countTtlSeconds: 10, memoryMaxEntries: 100 }),
)

behaviour(
  'redis',
  async (t) => {
    const redis = new Redis(redisUrl()!, { keyPrefix: `keel-test:cache:${process.pid}:${Math.random()}:` })
    t.teardown(() => redis.disconnect())
    await redis.ping()
    return createCache({ redis, log: silent, defaultTtlSeconds: 60, countTtlSeconds: 10, memoryMaxEntries: 100 })
  },
  { skip: redisUrl() ? false : needsRedis },
)

t.test(
  'redis: a cached total costs one round trip, and a write made through another instance is seen at once',
  { skip: redisUrl() ? false : needsRedis },
  async (t) => {
    const prefix = `keel-test:cache:${process.pid}:${Math.random()}:`
    const connect = () => {
      const redis = new Redis(redisUrl()!, { keyPrefix: prefix })
      t.teardown(() => redis.disconnect())
      return redis
    }
    // Instance a's Redis commands, counted.
    let commands = 0
    const counted = new Proxy(connect(), {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown
        if (typeof value !== 'function' || !['get', 'mget', 'set', 'incr', 'del'].includes(String(name))) return value
        return (...args: unknown[]) => {
          commands++
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
    const other = connect()
    // Both connected before they are used (a cache bypasses a Redis that is not ready yet).
    await Promise.all([counted.ping(), other.ping()])
    const options = { log: silent, defaultTtlSeconds: 60, countTtlSeconds: 10, memoryMaxEntries: 100 }
    const a = createCache({ redis: counted, ...options })
    const b = createCache({ redis: other, ...options })
    let counts = 0
    const count = (n: number) => async () => {
      counts++
      return n
    }
    t.equal(await a.count('things', { status: 'a' }, count(5)), 5)
    commands = 0
    t.equal(await a.count('things', { status: 'a' }, count(99)), 5, 'cached')
    t.equal(commands, 1, 'one Redis command for a cached total')
    t.equal(await b.count('things', { status: 'a' }, count(99)), 5, 'the other instance shares it')
    await b.invalidateCounts('things')
    t.equal(await a.count('things', { status: 'a' }, count(6)), 6, "recounted after the other instance's write")
    t.equal(await b.count('things', { status: 'a' }, count(99)), 6, 'once for both')
    t.equal(counts, 2)
  },
)

t.test('the in-process store expires entries and evicts the least recently used', async (t) => {
  let now = 0
  const store = memoryStore(2, () => now)
  await store.set('a', '1', 10)
  await store.set('b', '2', 10)
  await store.get('a') // a is now more recent than b
  await store.set('c', '3', 10)
  t.equal(await store.get('b'), null, 'b was evicted')
  t.equal(await store.get('a'), '1')
  now = 10_000
  t.equal(await store.get('a'), null, 'expired')
})

for (const backend of ['redis', 'memory'] as const)
  t.test(
    `${backend}: a product read is a miss, then a hit; a write makes the next read fresh`,
    { skip: backend === 'redis' && !redisUrl() ? needsRedis : false },
    async (t) => {
      const app = await build(t, backend === 'memory' ? { REDIS_URL: undefined } : {})
      t.equal(app.cache.stats().backend, backend)
      const seller = await account(app)
      const p = await product(app, seller, { name: 'Before' })
      const url = `/api/v1/products/${p.id}`
      const before = app.cache.stats()
      await app.inject({ method: 'GET', url })
      const afterMiss = app.cache.stats()
      t.equal(afterMiss.misses - before.misses, 1, 'first read misses')
      await app.inject({ method: 'GET', url })
      t.equal(app.cache.stats().hits - afterMiss.hits, 1, 'second read hits')
      await app.inject({ method: 'PATCH', url, headers: seller.headers, payload: { name: 'After' } })
      t.equal((await app.inject({ method: 'GET', url })).json().data.name, 'After')
      const metrics = await app.inject({ method: 'GET', url: '/metrics' })
      t.match(metrics.body, /keel_cache_operations_total\{result="hit"\} [1-9]/)
    },
  )

t.test('Redis stops: reads answer from the database, readiness is degraded, and the cache comes back by itself', async (t) => {
  const port = await freePort()
  let redis = await startRedis(port)
  t.teardown(() => stopRedis(redis))
  const app = await build(t, { REDIS_URL: `redis://127.0.0.1:${port}` })
  const seller = await account(app)
  const p = await product(app, seller, { name: 'Sturdy', stock: 4 })
  const url = `/api/v1/products/${p.id}`
  t.equal((await app.inject({ method: 'GET', url })).statusCode, 200, 'cached while Redis is up')

  await stopRedis(redis)
  const errorsBefore = app.cache.stats().errors
  const down = await app.inject({ method: 'GET', url })
  t.equal(down.statusCode, 200)
  t.equal(down.json().data.name, 'Sturdy')
  t.ok(app.cache.stats().errors > errorsBefore, 'the failed cache lookup is counted')
  const list = await app.inject({ method: 'GET', url: '/api/v1/products' })
  t.equal(list.statusCode, 200)
  t.equal(list.json().meta.total, 1, 'the total is counted from the database')
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), { status: 'degraded', checks: { database: 'ok', cache: 'down', queue: 'ok' } })

  // Writes still work (auth state comes from the database too) and reads see them at once.
  const patch = await app.inject({ method: 'PATCH', url, headers: seller.headers, payload: { name: 'Renamed' } })
  t.equal(patch.statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url })).json().data.name, 'Renamed')

  redis = await startRedis(port)
  await waitFor(async () => (await app.inject({ method: 'GET', url: '/health/ready' })).json().status === 'healthy', {
    what: 'readiness to recover',
  })
  await waitFor(
    async () => {
      const hits = app.cache.stats().hits
      await app.inject({ method: 'GET', url })
      return app.cache.stats().hits > hits
    },
    { what: 'cache hits to resume' },
  )
  t.equal((await app.inject({ method: 'GET', url })).json().data.name, 'Renamed', 'and what it serves is current')
})

t.test('one warning per outage; loads fall through to the loader; deletes missed during the outage are replayed', async (t) => {
  let failing = true
  const deleted: string[][] = []
  const fail = () => Promise.reject(new Error('Command timed out'))
  const fake = {
    status: 'ready',
    get: (key: string) => (failing ? fail() : Promise.resolve(key.endsWith('cached') ? '"from-redis"' : null)),
    set: () => (failing ? fail() : Promise.resolve('OK')),
    del: (...keys: string[]) => (failing ? fail() : (deleted.push(keys), Promise.resolve(keys.length))),
    incr: () => (failing ? fail() : Promise.resolve(1)),
  }
  const lines: string[] = []
  const log = {
    warn: (_o: unknown, msg: string) => lines.push(`warn ${msg}`),
    info: (msg: string) => lines.push(`info ${msg}`),
  } as unknown as FastifyBaseLogger
  const cache = createCache({
    redis: fake as unknown as Redis,
    log,
    defaultTtlSeconds: 60,
    countTtlSeconds: 10,
    memoryMaxEntries: 10,
    retryAfterMs: 0,
  })

  t.equal(await cache.wrap('x', 60, async () => 'from-db'), 'from-db')
  t.equal(await cache.count('n', {}, async () => 3), 3)
  await cache.del('stale')
  t.equal(await cache.get('y'), undefined)
  t.same(lines, ['warn cache unavailable: reading through to the database'], 'warned once')
  t.ok(cache.stats().errors >= 4)

  failing = false
  t.equal(await cache.get('cached'), 'from-redis')
  t.same(lines.slice(1), ['info cache available again'])
  await waitFor(() => deleted.length > 0, { what: 'the missed delete' })
  t.same(deleted, [['cache:stale']], 'the delete missed during the outage was sent')

  failing = true
  await cache.get('z')
  t.equal(lines.filter((l) => l.startsWith('warn')).length, 2, 'a new outage warns again')
})

t.test('Redis hangs (SIGSTOP): reads answer from the database without waiting on Redis each time, then the cache recovers', async (t) => {
  const port = await freePort()
  const redis = await startRedis(port)
  t.teardown(() => {
    redis.kill('SIGCONT')
    return stopRedis(redis)
  })
  const app = await build(t, { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_COMMAND_TIMEOUT_MS: 200, RATE_LIMIT_ENABLED: false })
  const seller = await account(app)
  const p = await product(app, seller, { name: 'Patient' })
  const url = `/api/v1/products/${p.id}`
  await app.inject({ method: 'GET', url })

  redis.kill('SIGSTOP')
  const first = await app.inject({ method: 'GET', url })
  t.equal(first.statusCode, 200)
  t.equal(first.json().data.name, 'Patient')
  // After a failure the cache skips Redis for a moment instead of waiting a timeout on every read.
  const client = app.redis!
  const realGet = client.get.bind(client)
  let attempts = 0
  client.get = ((...args: Parameters<typeof realGet>) => {
    attempts++
    return realGet(...args)
  }) as typeof client.get
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ method: 'GET', url })).json().data.name, 'Patient')
  client.get = realGet as typeof client.get
  t.ok(attempts < 5, `five reads, ${attempts} attempt(s) to reach the hung Redis`)
  t.match((await app.inject({ method: 'GET', url: '/health/ready' })).json(), { status: 'degraded', checks: { cache: 'down' } })

  redis.kill('SIGCONT')
  await waitFor(
    async () => {
      const hits = app.cache.stats().hits
      await app.inject({ method: 'GET', url })
      return app.cache.stats().hits > hits
    },
    { what: 'cache hits to resume' },
  )
  t.pass('the cache is used again without a restart')
})
