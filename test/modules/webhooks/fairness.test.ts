// A hung receiver costs its owner, not everyone: one user's 20 subscriptions to a receiver that never
// answers, and a backlog of their deliveries, do not hold up another user's delivery — it still
// arrives within seconds. Real HTTP on loopback, real pg-boss workers.
import t from 'tap'
import { build } from '../../helpers/build.js'
import { createUser, type TestUser } from '../../helpers/auth.js'
import { product } from '../../helpers/marketplace.js'
import { waitFor } from '../../helpers/wait.js'
import { receiver } from './receiver.js'

t.test("a receiver that hangs holds only its owner's deliveries: another user's still arrives", async (t) => {
  // A long timeout, so the hanging requests stay in flight for the whole test (as an attacker's would).
  const app = await build(t, { WEBHOOK_TIMEOUT_MS: 120_000, WEBHOOKS_MAX_PER_USER: 25 })
  const attacker = await createUser(app)
  const victim = await createUser(app)
  const listing = await product(app, attacker, { name: 'Bait', priceCents: 100, stock: 1 })

  const subscribe = async (user: TestUser, url: string) => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/webhooks',
      headers: user.headers,
      payload: { url, events: ['product.updated'], currentPassword: user.password },
    })
    if (res.statusCode !== 201) throw new Error(`subscribe: ${res.statusCode} ${res.body}`)
    return res.json().data as { id: string }
  }
  const hang = await receiver(t, () => 'hang')
  for (let i = 0; i < 20; i++) await subscribe(attacker, `${hang.url}?${i}`)

  let price = listing.priceCents
  const changePrice = async () => {
    const res = await app.inject({
      method: 'PATCH',
      url: `/api/v1/products/${listing.id}`,
      headers: attacker.headers,
      payload: { priceCents: ++price },
    })
    if (res.statusCode !== 200) throw new Error(`PATCH product: ${res.statusCode} ${res.body}`)
  }
  // 15 updates: 300 deliveries to the hanging receiver, queued before the victim subscribes.
  for (let i = 0; i < 15; i++) await changePrice()
  await waitFor(() => hang.received.length >= 1, { what: 'the hanging receiver to be called', timeoutMs: 30_000 })

  const own = await receiver(t)
  await subscribe(victim, own.url)
  await changePrice()
  // (It may also get some of the earlier updates, whose fan-out ran after it subscribed.)
  const arrived = await waitFor(() => own.received.find((r) => JSON.parse(r.body).data.priceCents === price), {
    what: "the victim's delivery of the last update",
    timeoutMs: 15_000,
  })
  t.match(JSON.parse(arrived.body), { type: 'product.updated', data: { productId: listing.id, priceCents: price } })

  const inFlight = await app.sql<{ n: number }[]>`
    select count(*)::int as n from pgboss_v12.job where name = 'deliver-webhook' and state = 'active' and group_id = ${attacker.id}`
  t.ok(inFlight[0]!.n <= app.config.WEBHOOK_CONCURRENCY_PER_OWNER, `the attacker holds ${inFlight[0]!.n} delivery slots at most`)

  // Let the app stop without waiting out the hanging requests.
  await app.sql`delete from webhook_subscriptions where owner_id = ${attacker.id}`
  hang.dropConnections()
})
