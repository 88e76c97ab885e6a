// The generated TypeScript client (clients/typescript) against a real listening server, spelled as
// its README spells every path: if this file type-checks, a user's code written from the README does.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createKeelClient, type ErrorResponse, type Product } from '../../clients/typescript/index.js'
import { emailedToken } from '../helpers/auth.js'
import { build, validatingResponses } from '../helpers/build.js'
import { specProblems } from '../helpers/openapi-validator.js'
import { waitFor } from '../helpers/wait.js'

/** A webhook receiver on loopback that accepts every delivery. */
async function receiver(t: Parameters<typeof build>[0]): Promise<string> {
  const server = createServer((_req, res) => res.writeHead(204).end())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/keel`
}

t.test('the typed client registers, logs in, lists, gets, orders, subscribes and requests a report', async (t) => {
  const app = await build(t)
  const baseUrl = await app.listen({ host: '127.0.0.1', port: 0 })
  const hookUrl = await receiver(t)

  const clientFor = (accessToken?: string) => {
    const client = createKeelClient({ baseUrl, accessToken })
    // With KEEL_VALIDATE_RESPONSES=1, answers over the wire are held to openapi.yaml as injected ones are.
    if (validatingResponses) {
      client.use({
        async onResponse({ request, response }) {
          const problems = await specProblems(request.method, new URL(request.url).pathname + new URL(request.url).search, {
            statusCode: response.status,
            headers: Object.fromEntries(response.headers),
            payload: await response.clone().text(),
          })
          if (problems.length > 0) throw new Error(`response does not match openapi.yaml:\n  ${problems.join('\n  ')}`)
        },
      })
    }
    return client
  }
  const anonymous = clientFor()
  const password = 'Correct-Horse-9-Battery'

  async function signUp(name: string) {
    const email = `${name}-${process.pid}@example.test`
    const registered = await anonymous.POST('/api/v1/auth/register', { body: { email, password, name } })
    t.equal(registered.response.status, 201, `${name} registers`)
    const verified = await anonymous.POST('/api/v1/auth/verify-email', { body: { token: await emailedToken(app, email, 'verify-email') } })
    t.equal(verified.data?.data.emailVerified, true, `${name} verifies the address with the emailed link`)
    const { data, error } = await anonymous.POST('/api/v1/auth/login', { body: { email, password } })
    if (!data) throw new Error(`login failed: ${JSON.stringify(error)}`)
    return clientFor(data.data.accessToken)
  }

  const seller = await signUp('seller')
  const buyer = await signUp('buyer')

  const created = await seller.POST('/api/v1/products', {
    body: { name: 'Walnut desk lamp', description: 'Warm light, solid walnut base', priceCents: 4900, stock: 5 },
  })
  t.equal(created.response.status, 201)
  const product: Product = created.data!.data
  t.equal(created.response.headers.get('location'), `/api/v1/products/${product.id}`)

  // limit and sort have defaults: a list call may leave them out.
  const filtered = await anonymous.GET('/api/v1/products', { params: { query: { q: 'walnut', status: 'active', maxPrice: 5000 } } })
  t.equal(filtered.response.status, 200)
  t.same(
    filtered.data!.data.map((p) => p.id),
    [product.id],
  )
  t.equal(filtered.data!.meta.total, 1)
  const none = await anonymous.GET('/api/v1/products', { params: { query: { minPrice: 5000, limit: 5, sort: '-priceCents' } } })
  t.same(none.data!.data, [])

  const fetched = await anonymous.GET('/api/v1/products/{id}', { params: { path: { id: product.id } } })
  t.equal(fetched.data!.data.name, 'Walnut desk lamp')
  t.equal(fetched.response.headers.get('etag'), `"${product.version}"`)

  const missing = await anonymous.GET('/api/v1/products/{id}', { params: { path: { id: '01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01' } } })
  t.equal(missing.response.status, 404)
  const notFound = missing.error as ErrorResponse
  t.equal(notFound.code, 'NOT_FOUND', 'errors are typed too')

  const key = crypto.randomUUID()
  const order = () =>
    buyer.POST('/api/v1/orders', {
      params: { header: { 'idempotency-key': key } },
      body: { items: [{ productId: product.id, quantity: 2 }] },
    })
  const placed = await order()
  t.equal(placed.response.status, 201)
  const replayed = await order()
  t.equal(replayed.data!.data.id, placed.data!.data.id, 'the same Idempotency-Key gives the same order')
  t.equal(replayed.data!.data.totalCents, 9800)

  const webhook = await buyer.POST('/api/v1/webhooks', {
    body: { url: hookUrl, events: ['order.created', 'order.cancelled'], currentPassword: password },
  })
  t.equal(webhook.response.status, 201)
  t.ok(webhook.data!.data.secret, 'the signing secret is shown once')

  const today = new Date().toISOString().slice(0, 10)
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
  const report = await buyer.POST('/api/v1/reports', {
    body: { type: 'sales', from: today, to: tomorrow },
  })
  t.equal(report.response.status, 202)
  t.match(report.response.headers.get('location'), /^\/api\/v1\/reports\/[0-9a-f-]{36}$/)
  t.equal(report.data!.data.format, 'csv')
  const done = await waitFor(
    async () => {
      const { data } = await buyer.GET('/api/v1/reports/{id}', { params: { path: { id: report.data!.data.id } } })
      return data?.data.status === 'completed' && data.data
    },
    { what: 'the report' },
  )
  const csv = await buyer.GET('/api/v1/reports/{id}/download', { params: { path: { id: done.id } }, parseAs: 'text' })
  t.equal(csv.data, `day,orders,items_sold,revenue_cents\r\n${today},1,2,9800\r\n`, "the buyer's sales of the day, as CSV")
})
