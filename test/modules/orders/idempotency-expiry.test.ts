import t from 'tap'
import { build } from '../../helpers/build.js'
import { account, product } from '../../helpers/marketplace.js'

t.test('an Idempotency-Key is forgotten after IDEMPOTENCY_TTL_HOURS, and the hourly job purges it', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const buyer = await account(app)
  const p = await product(app, seller, { stock: 10 })
  const place = (key: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/orders',
      headers: { ...buyer.headers, 'idempotency-key': key },
      payload: { items: [{ productId: p.id, quantity: 1 }] },
    })

  const first = (await place('old')).json().data
  await place('fresh')
  await app.sql`update idempotency_keys set created_at = now() - interval '25 hours' where key = 'old'`

  const later = await place('old')
  t.equal(later.statusCode, 201)
  t.not(later.json().data.id, first.id, 'an expired key starts a new order')
  t.equal(later.headers['idempotent-replayed'], undefined)

  await app.sql`update idempotency_keys set created_at = now() - interval '25 hours' where key = 'old'`
  const job = app.jobs.definitions.get('orders.purge-idempotency-keys')
  t.ok(job, 'the purge job is registered')
  await job!.handler({}, { id: 'test', retryCount: 0, retryLimit: 0, isFinalAttempt: true, log: app.log })
  const keys = await app.sql<{ key: string }[]>`select key from idempotency_keys order by key`
  t.same(
    keys.map((k) => k.key),
    ['fresh'],
  )
})
