// The marketplace's side effects, end to end through the workers: registering queues a welcome
// email; an order publishes order.created in its own transaction (a failed order publishes nothing),
// which sends its confirmation email and webhook; cancel and product changes notify subscribers;
// the request id of the request that caused an event stays inside Keel (receivers are other parties).
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { build } from '../helpers/build.js'
import { createUser } from '../helpers/auth.js'
import { product } from '../helpers/marketplace.js'
import { waitFor } from '../helpers/wait.js'
import { receiver, type Received } from '../modules/webhooks/receiver.js'

t.test('emails and webhooks follow registrations, orders, cancellations and product changes', async (t) => {
  const app = await build(t)
  const hooks = await receiver(t)
  const admin = await createUser(app, { role: 'admin' })
  const seller = await createUser(app)

  // An admin's webhook: order events reach only the buyer and staff (a seller's would not see them).
  const sub = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: admin.headers,
    payload: { url: hooks.url, events: ['order.created', 'order.cancelled', 'product.updated'], currentPassword: admin.password },
  })
  t.equal(sub.statusCode, 201)
  const secret = sub.json().data.secret as string
  const events = () => hooks.received.map((r) => JSON.parse(r.body) as { type: string; data: Record<string, unknown> })
  const verified = (r: Received) =>
    new Webhook(secret).verify(r.body, {
      'webhook-id': String(r.headers['webhook-id']),
      'webhook-timestamp': String(r.headers['webhook-timestamp']),
      'webhook-signature': String(r.headers['webhook-signature']),
    })

  // Registering over the API queues a welcome email, sent by the log transport.
  const email = `buyer-${process.pid}@example.test`
  const reg = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { email, password: 'Correct-Horse-9-Battery', name: 'Buyer' },
  })
  t.equal(reg.statusCode, 201)
  const emailsTo = async (template: string) => {
    const res = await app.inject({
      method: 'GET',
      url: `/api/v1/emails?to=${encodeURIComponent(email)}&template=${template}`,
      headers: admin.headers,
    })
    return res.json().data as { status: string; text: string; eventId: string | null }[]
  }
  await waitFor(async () => (await emailsTo('welcome'))[0]?.status === 'sent', { what: 'the welcome email' })
  const login = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'Correct-Horse-9-Battery' } })
  const buyer = { authorization: `Bearer ${login.json().data.accessToken}` }

  const item = await product(app, seller, { stock: 2, priceCents: 700 })

  // A failed order (not enough stock) leaves no email and no delivery behind.
  const tooMany = await app.inject({
    method: 'POST',
    url: '/api/v1/orders',
    headers: buyer,
    payload: { items: [{ productId: item.id, quantity: 3 }] },
  })
  t.equal(tooMany.statusCode, 409)

  const placed = await app.inject({
    method: 'POST',
    url: '/api/v1/orders',
    headers: { ...buyer, 'x-request-id': 'trace-order-1' },
    payload: { items: [{ productId: item.id, quantity: 2 }] },
  })
  t.equal(placed.statusCode, 201)
  const orderId = placed.json().data.id as string

  await waitFor(async () => (await emailsTo('order-confirmation'))[0]?.status === 'sent', { what: 'the order confirmation' })
  const confirmations = await emailsTo('order-confirmation')
  t.equal(confirmations.length, 1, 'one confirmation: the failed order sent none')
  t.match(confirmations[0], { text: new RegExp(`^Hello Buyer,\n[^]*Order: ${orderId}\n`), eventId: String })

  const created = await waitFor(() => hooks.received.find((r) => JSON.parse(r.body).type === 'order.created'), {
    what: 'order.created webhook',
  })
  t.equal(created.headers['x-request-id'], undefined, "the client's request id stays inside Keel (the receiver is another party)")
  t.match(verified(created), { type: 'order.created', data: { id: orderId, totalCents: 1400 } })

  const cancel = await app.inject({ method: 'POST', url: `/api/v1/orders/${orderId}/cancel`, headers: buyer })
  t.equal(cancel.statusCode, 200)
  await waitFor(() => events().some((e) => e.type === 'order.cancelled' && e.data.id === orderId), { what: 'order.cancelled webhook' })

  const patch = await app.inject({
    method: 'PATCH',
    url: `/api/v1/products/${item.id}`,
    headers: seller.headers,
    payload: { priceCents: 650 },
  })
  t.equal(patch.statusCode, 200)
  await waitFor(() => events().some((e) => e.type === 'product.updated' && e.data.productId === item.id), {
    what: 'product.updated webhook',
  })

  t.equal(events().filter((e) => e.type === 'order.created').length, 1, 'the failed order published nothing')
})
