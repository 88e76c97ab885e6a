// Shutting down under load. A real server process gets SIGTERM while clients place orders over
// kept-alive connections: it exits 0 within the bound, every order answered 201 is kept, stock
// matches the orders kept, every refused request is a 503 in the envelope, nothing is logged as an
// error. And a request that arrives on a kept-alive connection while the server drains gets the
// envelope (503, connection: close), not Fastify's own body.
import t from 'tap'
import { connect } from 'node:net'
import { performance } from 'node:perf_hooks'
import postgres from 'postgres'
import { buildChecked, createTestDatabase, redisUrl, testConfig } from '../helpers/build.js'
import { startServer } from '../helpers/server-process.js'
import { startLoad } from '../helpers/load.js'
import { waitFor } from '../helpers/wait.js'

const json = { 'content-type': 'application/json' }

t.test('SIGTERM while orders are being placed: exit 0, nothing accepted is lost, refusals in the envelope', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const server = await startServer(t, {
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'shutdown-test-secret-shutdown-test-secret',
    RATE_LIMIT_MAX: '100000',
    ...(redisUrl() ? { REDIS_URL: redisUrl()!, REDIS_KEY_PREFIX: `keel-test:shutdown-${process.pid}:` } : {}),
  })
  const api = `${server.base}/api/v1`
  const account = async (name: string) => {
    const body = { email: `${name}-${process.pid}@example.test`, password: 'Correct-Horse-9-Battery', name }
    t.equal((await fetch(`${api}/auth/register`, { method: 'POST', headers: json, body: JSON.stringify(body) })).status, 201)
    const login = await fetch(`${api}/auth/login`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: body.email, password: body.password }),
    })
    return { ...json, authorization: `Bearer ${((await login.json()) as { data: { accessToken: string } }).data.accessToken}` }
  }
  const seller = await account('seller')
  const buyer = await account('buyer')
  const created = await fetch(`${api}/products`, {
    method: 'POST',
    headers: seller,
    body: JSON.stringify({ name: 'Drained widget', priceCents: 100, stock: 100_000 }),
  })
  const productId = ((await created.json()) as { data: { id: string } }).data.id

  type Outcome = { status?: number; code?: string; requestId?: string; retryAfter?: string | null; id?: string; error?: string }
  const load = startLoad<Outcome>(
    async () => {
      try {
        const res = await fetch(`${api}/orders`, {
          method: 'POST',
          headers: buyer,
          body: JSON.stringify({ items: [{ productId, quantity: 1 }] }),
        })
        const body = (await res.json()) as { code?: string; requestId?: string; data?: { id: string } }
        return {
          status: res.status,
          code: body.code,
          requestId: body.requestId,
          retryAfter: res.headers.get('retry-after'),
          id: body.data?.id,
        }
      } catch (err) {
        await new Promise((resolve) => setTimeout(resolve, 20)) // (refused: the server is gone)
        return { error: String((err as { cause?: { code?: string } }).cause?.code ?? err) }
      }
    },
    { concurrency: 8 },
  )
  await waitFor(() => load.samples.filter((s) => s.result.status === 201).length >= 30, { what: 'orders to be placed' })

  const signalledAt = performance.now()
  server.child.kill('SIGTERM')
  const code = await server.exited
  const exitMs = performance.now() - signalledAt
  await load.stop()

  t.equal(code, 0, 'exit code 0')
  t.ok(exitMs < 10_000, `exited ${Math.round(exitMs)} ms after SIGTERM (SHUTDOWN_TIMEOUT_MS is 10 s)`)

  const outcomes = load.samples.map((s) => s.result)
  const accepted = outcomes.filter((o) => o.status === 201).map((o) => o.id!)
  const refused = outcomes.filter((o) => o.status !== undefined && o.status !== 201)
  const failed = outcomes.filter((o) => o.error)
  t.comment(
    `${accepted.length} placed, ${refused.length} refused (503), ${failed.length} not connected (server gone); exit in ${Math.round(exitMs)} ms`,
  )
  t.ok(
    refused.every((o) => o.status === 503 && o.code === 'SERVICE_UNAVAILABLE' && o.requestId && Number(o.retryAfter) >= 1),
    'every refusal is a 503 in the envelope with retry-after',
  )
  t.ok(
    failed.every((o) => /ECONNREFUSED|ECONNRESET|UND_ERR_SOCKET|other side closed/.test(o.error!)),
    `the rest could not connect (${[...new Set(failed.map((o) => o.error))].join(', ') || 'none'})`,
  )

  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  const kept = await sql<{ id: string }[]>`select id from orders where id in ${sql(accepted)}`
  t.equal(kept.length, accepted.length, `all ${accepted.length} orders answered 201 are kept`)
  const [row] = await sql<{ stock: number; sold: number }[]>`
    select p.stock, (select coalesce(sum(quantity), 0)::int from order_items where product_id = p.id) as sold
    from products p where p.id = ${productId}`
  t.equal(row!.stock + row!.sold, 100_000, 'stock + sold = the initial stock (no half-done order)')

  t.match(server.output(), /shutting down/)
  t.same(
    server
      .logs()
      .filter((l) => l.level >= 50)
      .map((l) => l.msg),
    [],
    'nothing logged as an error',
  )
})

t.test('a request on a kept-alive connection while the server drains gets the envelope', async (t) => {
  const app = await buildChecked({ config: testConfig(await createTestDatabase(t)), logger: false })
  let entered!: () => void
  const inSlow = new Promise<void>((resolve) => (entered = resolve))
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  app.get('/t/slow', async () => {
    entered()
    await released
    return { success: true, data: 'done' }
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }

  const socket = connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  let received = ''
  socket.on('data', (d: Buffer) => (received += d.toString()))
  socket.write('GET /t/slow HTTP/1.1\r\nhost: keel\r\nconnection: keep-alive\r\n\r\n')
  await inSlow
  const closing = app.close()
  // The same connection, while the first request is still being served and the server drains.
  socket.write('GET /api/v1/products HTTP/1.1\r\nhost: keel\r\nconnection: keep-alive\r\nx-request-id: drain-1\r\n\r\n')
  await new Promise((resolve) => setTimeout(resolve, 100)) // (let it be read; the answer comes after the first)
  release()
  await closing
  await waitFor(() => (received.match(/HTTP\/1\.1 /g)?.length ?? 0) >= 2 || socket.destroyed, { what: 'both answers' })

  const answers = received.split(/(?=HTTP\/1\.1 )/)
  t.match(answers[0], /^HTTP\/1\.1 200/, 'the request in flight is finished')
  t.match(answers[1], /^HTTP\/1\.1 503/, 'the one that arrived while draining is refused')
  t.match(answers[1], /connection: close/i)
  t.match(answers[1], /retry-after: 1/i)
  const body = JSON.parse(answers[1]!.slice(answers[1]!.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>
  t.same(body, {
    success: false,
    error: 'The server is shutting down; retry the request',
    code: 'SERVICE_UNAVAILABLE',
    details: [],
    requestId: 'drain-1',
  })
})
