import t from 'tap'
import { build } from '../../helpers/build.js'
import { seedDemoData } from '../../../src/dev/seed.js'

t.test('first start seeds a catalog and two orders for the demo buyer', async (t) => {
  const app = await build(t)
  const log = console.log
  console.log = () => {}
  t.teardown(() => {
    console.log = log
  })
  await seedDemoData(app)

  const products = await app.inject({ method: 'GET', url: '/api/v1/products?limit=100' })
  t.equal(products.json().meta.total, 12)
  const lamp = products.json().data.find((p: { name: string }) => p.name === 'Walnut desk lamp')
  t.equal(lamp.stock, 24, 'the seeded order took its stock')

  const [row] = await app.sql<{ n: number; total: number }[]>`select count(*)::int as n, sum(total_cents)::int as total from orders`
  t.same(row, { n: 2, total: 4900 + 2 * 1900 + 8900 })

  await seedDemoData(app)
  t.equal((await app.inject({ method: 'GET', url: '/api/v1/products' })).json().meta.total, 12, 'a second start adds nothing')
})
