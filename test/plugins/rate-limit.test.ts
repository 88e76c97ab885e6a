// Rate limiting as a client sees it: headers, 429 in the error envelope, who shares a budget
// (IP, user, API key), route policies and presets, proxies, and several instances on one Redis.
import t from 'tap'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { createTestDatabase, needsRedis, redisUrl, testConfig, buildChecked } from '../helpers/build.js'

type Overrides = Parameters<typeof testConfig>[1]
type Test = Parameters<typeof createTestDatabase>[0]

/** Stands in for the auth plugin: `x-test-user: <id>` or `x-test-key: <keyId>[:<its own max>]`. */
async function fakeAuth(request: FastifyRequest) {
  const req = request as unknown as { user: unknown; apiKey: unknown }
  const user = request.headers['x-test-user']
  const key = request.headers['x-test-key']
  if (typeof key === 'string') {
    const [id, max] = key.split(':')
    req.user = { id: 'key-owner', role: 'user', permissions: ['read'], apiKeyId: id }
    req.apiKey = { id, ownerId: 'key-owner', scopes: ['read'], rateLimit: max ? { max: Number(max), windowSeconds: 60 } : null }
  } else if (typeof user === 'string') {
    req.user = { id: user, role: 'user', permissions: ['read', 'write'] }
  }
}

/** An app on its own database (or a given one: same Redis prefix) with a few routes to limit. */
async function limitedApp(t: Test, overrides: Overrides = {}, databaseUrl?: string): Promise<FastifyInstance> {
  const url = databaseUrl ?? (await createTestDatabase(t))
  const app = await buildChecked({ config: testConfig(url, { RATE_LIMIT_MAX: 3, ...overrides }), logger: false })
  t.teardown(() => app.close())
  const ok = async () => ({ success: true, data: 'pong' })
  app.get('/t/default', { preHandler: fakeAuth }, ok)
  app.get('/t/other', { preHandler: fakeAuth }, ok)
  app.get('/t/off', { config: { rateLimit: false } }, ok)
  app.get('/t/documented', { schema: { response: { 200: { type: 'object', additionalProperties: true } } } }, ok)
  app.get('/t/bucket', { config: { rateLimit: { strategy: 'token-bucket', max: 2, timeWindow: 60_000 } } }, ok)
  app.post(
    '/t/login',
    {
      // Per IP, and separately per email sent: the guard of a route that takes credentials.
      config: { rateLimit: { max: 2, timeWindow: 60_000, keyBy: 'ip', alsoByBodyField: 'email' } },
      schema: { body: { type: 'object', properties: { email: { type: 'string' } } } },
    },
    ok,
  )
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
  const spec = (await get(app, '/docs/json')).json()
  t.match(spec.paths['/t/documented'].get.responses['429'], { description: /Too many requests.*RATE_LIMITED/ })
  t.notOk(spec.paths['/health'].get.responses['429'], 'exempt routes do not')
  t.same(await statuses(2, () => get(app, '/t/documented')), [200, 200])
  const refused = await get(app, '/t/documented')
  t.match(refused.json(), { success: false, code: 'RATE_LIMITED', requestId: String }, 'the 429 is serialized by its documented schema')
})

t.test('users, API keys and anonymous IPs each have their own budget; a key may carry its own limit', async (t) => {
  const app = await limitedApp(t)
  t.same(await statuses(4, () => get(app, '/t/default', { 'x-test-user': 'alice' })), [200, 200, 200, 429], 'alice is limited')
  t.same(await statuses(3, () => get(app, '/t/default', { 'x-test-user': 'bob' })), [200, 200, 200], 'bob is not')
  t.equal((await get(app, '/t/default')).statusCode, 200, 'nor an anonymous caller from the same IP')
  t.same(
    await statuses(4, () => get(app, '/t/default', { 'x-test-key': 'k1' })),
    [200, 200, 200, 429],
    'a key without its own limit gets the default',
  )

  const own = await get(app, '/t/default', { 'x-test-key': 'k2:5' })
  t.equal(own.headers['x-ratelimit-limit'], '5', 'a key with its own limit')
  t.same(await statuses(5, () => get(app, '/t/default', { 'x-test-key': 'k2:5' })), [200, 200, 200, 200, 429])
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

t.test('alsoByBodyField limits per IP and, separately, per email tried', async (t) => {
  const app = await limitedApp(t) // /t/login: 2 per IP, and 2 per email
  const login = (email: string, ip: string) => app.inject({ method: 'POST', url: '/t/login', payload: { email }, remoteAddress: ip })

  // One email from many IPs (distributed guessing): the email's budget runs out.
  t.equal((await login('Victim@Example.com', '10.0.0.1')).statusCode, 200)
  t.equal((await login('victim@example.com ', '10.0.0.2')).statusCode, 200)
  const byEmail = await login('victim@example.com', '10.0.0.3')
  t.equal(byEmail.statusCode, 429, 'the third try on one email is refused, whatever the IP and case')
  t.match(byEmail.json(), { code: 'RATE_LIMITED', error: /^Too many attempts for this email, retry in \d+ (seconds?|minutes?)$/ })
  t.ok(Number(byEmail.headers['retry-after']) > 0)

  // One IP trying many emails (stuffing): the IP's budget runs out.
  t.equal((await login('a@example.com', '10.0.0.9')).statusCode, 200)
  t.equal((await login('b@example.com', '10.0.0.9')).statusCode, 200)
  const byIp = await login('c@example.com', '10.0.0.9')
  t.equal(byIp.statusCode, 429, 'the third email from one IP is refused')
  t.match(byIp.json().error, /^Rate limit exceeded/)
  t.equal(byIp.headers['x-ratelimit-limit'], '2')
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
  const one = await limitedApp(t, {}, url)
  const two = await limitedApp(t, {}, url)
  t.equal((await get(one, '/t/default', { 'x-test-user': 'carol' })).headers['x-ratelimit-remaining'], '2')
  t.equal((await get(two, '/t/default', { 'x-test-user': 'carol' })).headers['x-ratelimit-remaining'], '1')
  t.equal((await get(one, '/t/default', { 'x-test-user': 'carol' })).headers['x-ratelimit-remaining'], '0')
  t.equal((await get(two, '/t/default', { 'x-test-user': 'carol' })).statusCode, 429, 'the fourth request is refused by the other instance')
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
