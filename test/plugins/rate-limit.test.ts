// Rate limiting as a client sees it: headers, 429 in the error envelope, route policies, proxies and
// several instances on one Redis; who shares a budget (a user with all its sessions and API keys, or
// an address); and requests whose credentials are refused, which spend their address's budget and,
// once it is spent, are refused before their credentials are looked up.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { createTestDatabase, needsRedis, redisUrl, testConfig, buildChecked } from '../helpers/build.js'
import { createUser, type TestUser } from '../helpers/auth.js'

type Overrides = Parameters<typeof testConfig>[1]
type Test = Parameters<typeof createTestDatabase>[0]

/** An app on its own database (or a given one, then on a Redis prefix of its own) with a few routes to limit. */
async function limitedApp(
  t: Test,
  overrides: Overrides = {},
  databaseUrl?: string,
  routes: (app: FastifyInstance) => void = () => {},
): Promise<FastifyInstance> {
  const url = databaseUrl ?? (await createTestDatabase(t))
  const prefix = databaseUrl ? { REDIS_KEY_PREFIX: `keel-test:rl-${randomBytes(4).toString('hex')}:` } : {}
  const app = await buildChecked({ config: testConfig(url, { RATE_LIMIT_MAX: 3, ...prefix, ...overrides }), logger: false })
  t.teardown(() => app.close())
  const ok = async () => ({ success: true, data: 'pong' })
  app.get('/t/default', ok)
  app.get('/t/other', ok)
  app.get('/t/off', { config: { rateLimit: false } }, ok)
  app.get('/t/documented', { schema: { response: { 200: { type: 'object', additionalProperties: true } } } }, ok)
  app.get('/t/bucket', { config: { rateLimit: { strategy: 'token-bucket', max: 2, timeWindow: 60_000 } } }, ok)
  routes(app)
  await app.ready()
  return app
}

const get = (app: FastifyInstance, url: string, headers: Record<string, string> = {}, remoteAddress?: string) =>
  app.inject({ method: 'GET', url, headers, ...(remoteAddress ? { remoteAddress } : {}) })

const statuses = async (n: number, send: () => ReturnType<typeof get>) => {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await send()).statusCode)
  return out
}

/** A well-formed API key that does not exist (its prefix is unknown: each one is looked up). */
const forgedKey = () => `keel_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`

async function createKey(app: FastifyInstance, owner: TestUser, rateLimit?: { max: number; windowSeconds: number }) {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/api-keys',
    headers: owner.headers,
    payload: { name: 'k', rateLimit, currentPassword: owner.password },
  })
  if (res.statusCode !== 201) throw new Error(`key not created: ${res.body}`)
  return res.json().data.key as string
}

// Without REDIS_URL these run on the in-process store (same behaviour); sharing needs Redis.
const needsSharedRedis = redisUrl() ? false : needsRedis

t.test('a limited route counts down in headers, then answers 429 in the error envelope', async (t) => {
  const app = await limitedApp(t)
  for (const remaining of ['2', '1', '0']) {
    const res = await get(app, '/t/default')
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-ratelimit-limit'], '3')
    t.equal(res.headers['x-ratelimit-remaining'], remaining)
    const reset = Number(res.headers['x-ratelimit-reset'])
    t.ok(reset > 0 && reset <= 60, `x-ratelimit-reset is within the 60 s window (${reset})`)
  }
  const refused = await get(app, '/t/default')
  t.equal(refused.statusCode, 429)
  const body = refused.json()
  t.match(body, { success: false, code: 'RATE_LIMITED', details: [], requestId: String })
  t.match(body.error, /^Rate limit exceeded, retry in \d+ seconds?$/, body.error)
  const retryAfter = Number(refused.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after in seconds (${retryAfter})`)
  t.equal(refused.headers['x-ratelimit-remaining'], '0')
  t.equal(refused.headers['x-request-id'], body.requestId)

  t.equal((await get(app, '/t/other')).statusCode, 429, 'routes without a policy share the default budget')
  t.equal((await get(app, '/t/bucket')).statusCode, 200, 'a route with its own policy has its own budget')
})

t.test('health, metrics, docs and rateLimit:false routes are never limited', async (t) => {
  const app = await limitedApp(t, { RATE_LIMIT_MAX: 1 })
  for (const url of ['/health', '/metrics', '/docs/json', '/t/off']) {
    const codes = await statuses(4, () => get(app, url))
    t.same(codes, [200, 200, 200, 200], url)
    t.notOk((await get(app, url)).headers['x-ratelimit-limit'], `${url} carries no rate-limit headers`)
  }
})

t.test('module routes are limited by default, and limited routes document their 429', async (t) => {
  const app = await limitedApp(t)
  const products = await get(app, '/api/v1/products')
  t.equal(products.statusCode, 200)
  t.equal(products.headers['x-ratelimit-limit'], '3', 'GET /api/v1/products carries the default policy')
  const invalid = await get(app, '/api/v1/products?limit=0')
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.headers['x-ratelimit-remaining'], '1', 'a request answered 400 counts too')
  const spec = (await get(app, '/docs/json')).json()
  t.match(spec.paths['/t/documented'].get.responses['429'], { description: /Too many requests.*RATE_LIMITED/ })
  t.notOk(spec.paths['/health'].get.responses['429'], 'exempt routes do not')
  t.equal((await get(app, '/t/documented')).statusCode, 200, 'the third request of the budget')
  const refused = await get(app, '/t/documented')
  t.match(refused.json(), { success: false, code: 'RATE_LIMITED', requestId: String }, 'the 429 is serialized by its documented schema')
})

t.test('each user and each anonymous address has its own budget', async (t) => {
  const app = await limitedApp(t, { RATE_LIMIT_MAX: 4 })
  const [alice, bob] = [await createUser(app), await createUser(app)] // (their logins spent the address's budget)
  t.same(await statuses(5, () => get(app, '/t/default', alice.headers)), [200, 200, 200, 200, 429], 'alice is limited')
  t.same(await statuses(4, () => get(app, '/t/default', bob.headers)), [200, 200, 200, 200], 'bob is not')
  t.same(await statuses(4, () => get(app, '/t/default', {}, '192.0.2.1')), [200, 200, 200, 200], 'nor an anonymous address')
  t.equal((await get(app, '/t/default', {}, '192.0.2.1')).statusCode, 429, 'which has a budget of its own')
})

t.test(
  "a user's sessions and API keys share one budget; a key's own limit is a part of it, never in addition",
  { skip: redisUrl() ? false : needsRedis },
  async (t) => {
    // Keys are made on an instance with room to spare; the budgets are then spent on another
    // instance, of the same database, with a fresh Redis prefix and a budget of 10.
    const url = await createTestDatabase(t)
    const setup = await limitedApp(t, { RATE_LIMIT_MAX: 1000 }, url)
    const alice = await createUser(setup)
    const keys: string[] = []
    for (let i = 0; i < 20; i++) keys.push(await createKey(setup, alice))
    const owner = await createUser(setup)
    const narrow = await createKey(setup, owner, { max: 2, windowSeconds: 60 })

    const app = await limitedApp(t, { RATE_LIMIT_MAX: 10 }, url)
    const callers = [alice.headers, ...keys.map((key) => ({ 'x-api-key': key }))]
    const codes = await Promise.all(callers.map((headers) => get(app, '/api/v1/auth/me', headers).then((r) => r.statusCode)))
    t.equal(codes.filter((c) => c === 200).length, 10, '21 credentials of one user: 10 requests admitted in all')
    t.equal(codes.filter((c) => c === 429).length, 11, 'the others are 429')
    t.equal((await get(app, '/api/v1/auth/me', { 'x-api-key': keys[0]! })).statusCode, 429, 'a key of a spent owner is refused')

    const first = await get(app, '/api/v1/auth/me', { 'x-api-key': narrow })
    t.equal(first.headers['x-ratelimit-limit'], '2', "the headers show the key's own, tighter budget")
    t.equal(first.headers['x-ratelimit-remaining'], '1')
    t.equal((await get(app, '/api/v1/auth/me', { 'x-api-key': narrow })).statusCode, 200)
    for (let i = 0; i < 5; i++) {
      const refused = await get(app, '/api/v1/auth/me', { 'x-api-key': narrow })
      t.equal(refused.statusCode, 429, "the key's own limit")
      t.equal(refused.headers['x-ratelimit-limit'], '2')
    }
    const after = await get(app, '/api/v1/auth/me', owner.headers)
    t.equal(after.statusCode, 200, 'its owner is not refused')
    t.equal(
      after.headers['x-ratelimit-remaining'],
      '7',
      "the key's two requests came out of the owner's budget of 10, its refusals did not",
    )
  },
)

t.test('refused credentials spend the address budget; once it is spent, keys are refused before any lookup', async (t) => {
  const app = await limitedApp(t, { RATE_LIMIT_MAX: 10 })
  const alice = await createUser(app)
  const attacker = '203.0.113.66'
  const forged = () => get(app, '/api/v1/orders', { 'x-api-key': forgedKey() }, attacker)
  const first = await statuses(10, forged)
  t.same(first, Array(10).fill(401), 'ten forged keys: ten 401s, each counted')

  // postgres.js calls options.debug for every statement it sends on the app's pool.
  const options = app.sql.options as unknown as { debug: unknown }
  const statements: string[] = []
  options.debug = (_connection: number, query: string) => statements.push(query)
  const flood = await statuses(40, forged)
  options.debug = false
  t.same(flood, Array(40).fill(429), 'the next forty: 429')
  t.same(statements, [], 'answered without looking any of them up')

  options.debug = (_connection: number, query: string) => statements.push(query)
  const refused = await get(app, '/api/v1/orders', { authorization: 'Bearer forged.token.here' }, attacker)
  options.debug = false
  t.equal(refused.statusCode, 429, 'a forged bearer token from that address too')
  t.same(statements, [], '(its signature is checked locally: no lookup either)')
  t.match(refused.json(), { code: 'RATE_LIMITED', error: /^Rate limit exceeded, retry in \d+ seconds?$/ })
  t.equal(refused.headers['x-ratelimit-limit'], '10')
  t.ok(Number(refused.headers['retry-after']) > 0)
  t.equal((await get(app, '/api/v1/orders', {}, attacker)).statusCode, 429, 'and no credentials at all')
  t.equal(
    (await get(app, '/api/v1/orders', alice.headers, attacker)).statusCode,
    200,
    "a real session behind that address is not refused: it has its user's budget",
  )
  t.equal((await get(app, '/api/v1/orders', { 'x-api-key': forgedKey() }, '203.0.113.67')).statusCode, 401, 'another address: a 401')
})

t.test('routes of one groupId share a budget of their own', async (t) => {
  const app = await limitedApp(t, {}, undefined, (app) => {
    const grouped = { config: { rateLimit: { groupId: 'exports', max: 2, timeWindow: 60_000 } } }
    app.get('/t/export-a', grouped, async () => ({ success: true, data: 'a' }))
    app.get('/t/export-b', grouped, async () => ({ success: true, data: 'b' }))
  })
  t.same([(await get(app, '/t/export-a')).statusCode, (await get(app, '/t/export-b')).statusCode], [200, 200])
  t.equal((await get(app, '/t/export-a')).statusCode, 429, 'the group budget is spent, on either route')
  t.equal((await get(app, '/t/default')).statusCode, 200, 'the general budget is another')
})

t.test('a route picks its strategy: a token bucket of 2', async (t) => {
  const app = await limitedApp(t)
  const first = await get(app, '/t/bucket')
  t.equal(first.headers['x-ratelimit-limit'], '2')
  t.equal(first.headers['x-ratelimit-remaining'], '1')
  t.equal((await get(app, '/t/bucket')).headers['x-ratelimit-remaining'], '0')
  const refused = await get(app, '/t/bucket')
  t.equal(refused.statusCode, 429)
  // 2 tokens refilled over 60 s: the next one arrives within 30 s.
  t.ok(Number(refused.headers['retry-after']) <= 30, `retry-after ${refused.headers['retry-after']}`)
  t.equal((await get(app, '/t/default')).headers['x-ratelimit-remaining'], '2', 'the default budget is untouched')
})

t.test('x-forwarded-for from an untrusted peer is ignored', async (t) => {
  const app = await limitedApp(t) // TRUST_PROXY=false
  let n = 0
  const spoofed = () => get(app, '/t/default', { 'x-forwarded-for': `203.0.113.${++n}` }, '198.51.100.7')
  t.same(await statuses(4, spoofed), [200, 200, 200, 429], 'a new forged address per request does not reset the budget')
})

t.test('x-forwarded-for is honoured when TRUST_PROXY lists the peer', async (t) => {
  const app = await limitedApp(t, { TRUST_PROXY: '10.10.0.1' })
  const viaProxy = (client: string) => get(app, '/t/default', { 'x-forwarded-for': client }, '10.10.0.1')
  t.same(await statuses(4, () => viaProxy('203.0.113.1')), [200, 200, 200, 429], 'one client behind the proxy is limited')
  t.equal((await viaProxy('203.0.113.2')).statusCode, 200, 'another client behind the same proxy is not')
  let n = 0
  const untrusted = () => get(app, '/t/default', { 'x-forwarded-for': `203.0.113.${100 + ++n}` }, '10.10.0.2')
  t.same(await statuses(4, untrusted), [200, 200, 200, 429], 'a peer not in TRUST_PROXY still cannot pick its address')
})

t.test('two instances on the same Redis share one limit', { skip: needsSharedRedis }, async (t) => {
  const url = await createTestDatabase(t)
  const shared = { REDIS_KEY_PREFIX: `keel-test:rl-shared-${randomBytes(4).toString('hex')}:` }
  const one = await limitedApp(t, shared, url)
  const two = await limitedApp(t, shared, url)
  const from = '198.51.100.40'
  t.equal((await get(one, '/t/default', {}, from)).headers['x-ratelimit-remaining'], '2')
  t.equal((await get(two, '/t/default', {}, from)).headers['x-ratelimit-remaining'], '1')
  t.equal((await get(one, '/t/default', {}, from)).headers['x-ratelimit-remaining'], '0')
  t.equal((await get(two, '/t/default', {}, from)).statusCode, 429, 'the fourth request is refused by the other instance')
  t.equal(one.rateLimitStats().backend, 'redis')
})

t.test('without REDIS_URL the limit is kept in process, same behaviour', async (t) => {
  const app = await limitedApp(t, { REDIS_URL: undefined })
  t.equal(app.rateLimitStats().backend, 'memory')
  t.same(await statuses(4, () => get(app, '/t/default')), [200, 200, 200, 429])
  t.same(await statuses(3, () => get(app, '/t/bucket')), [200, 200, 429])
})

t.test('RATE_LIMIT_ENABLED=false turns limiting off', async (t) => {
  const app = await limitedApp(t, { REDIS_URL: undefined, RATE_LIMIT_ENABLED: false })
  const codes = await statuses(6, () => get(app, '/t/default'))
  t.same(codes, [200, 200, 200, 200, 200, 200])
  t.notOk((await get(app, '/t/default')).headers['x-ratelimit-limit'])
})
