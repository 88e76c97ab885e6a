// The README's example, compiled with the client (so its spelling of every call type-checks).
import { createKeelClient, type Product } from './index.js'

const baseUrl = process.env.KEEL_URL ?? 'http://localhost:3000'
const keel = createKeelClient({ baseUrl })

// Every call resolves to { data, error, response }: data is the success envelope, error the error
// envelope (or RFC 9457 problem details when you send Accept: application/problem+json; both carry
// code and requestId).
const { data: login, error } = await keel.POST('/api/v1/auth/login', {
  body: { email: 'ada@example.com', password: 'Correct-Horse-9-Battery' },
})
if (error) throw new Error(`login refused: ${error.code} (request ${error.requestId})`)

// Credentials: a bearer access token (or a function returning the current one), or an API key.
const api = createKeelClient({ baseUrl, accessToken: login.data.accessToken })
// const api = createKeelClient({ baseUrl, apiKey: process.env.KEEL_API_KEY })

// Query parameters are typed; limit and sort have defaults, so they are optional.
const { data: page } = await api.GET('/api/v1/products', { params: { query: { q: 'lamp', maxPrice: 5000 } } })
for (const item of page?.data ?? []) console.log(item.id, item.name, item.priceCents)

// Path parameters; the response headers are there too.
const first = page?.data[0]
if (first) {
  const { data: one, response } = await api.GET('/api/v1/products/{id}', { params: { path: { id: first.id } } })
  const product: Product | undefined = one?.data
  console.log(product?.name, response.headers.get('etag'))

  // A retry-safe order: the same Idempotency-Key answers with the same order.
  const { data: order } = await api.POST('/api/v1/orders', {
    params: { header: { 'idempotency-key': crypto.randomUUID() } },
    body: { items: [{ productId: first.id, quantity: 1 }] },
  })
  console.log(order?.data.id)
}
