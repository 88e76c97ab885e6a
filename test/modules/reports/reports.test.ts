import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { account, product, type Account } from '../../helpers/marketplace.js'
import { waitFor } from '../../helpers/wait.js'

const day = (offsetDays = 0) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10)

async function order(app: FastifyInstance, buyer: Account, items: { productId: string; quantity: number }[]) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/orders', headers: buyer.headers, payload: { items } })
  if (res.statusCode !== 201) throw new Error(`order: ${res.statusCode} ${res.body}`)
  return res.json().data as { id: string; totalCents: number }
}

async function requestReport(app: FastifyInstance, who: Account, body: Record<string, unknown>) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/reports', headers: who.headers, payload: body })
  return res
}

const completed = (app: FastifyInstance, who: Account, location: string) =>
  waitFor(
    async () => {
      const res = await app.inject({ method: 'GET', url: location, headers: who.headers })
      const data = res.json().data
      return data?.status === 'completed' || data?.status === 'failed' ? data : undefined
    },
    { what: `report ${location}` },
  )

t.test('sales report: requested (202 + Location), built in the background, downloaded as CSV', async (t) => {
  const app = await build(t)
  const seller = await account(app)
  const buyer = await account(app)
  const other = await account(app)
  const admin = await account(app, 'admin')
  const lamp = await product(app, seller, { name: 'Lamp', priceCents: 1500, stock: 50 })
  const mug = await product(app, seller, { name: 'Mug', priceCents: 400, stock: 50 })
  await order(app, buyer, [
    { productId: lamp.id, quantity: 2 },
    { productId: mug.id, quantity: 1 },
  ]) // 3400
  await order(app, buyer, [{ productId: mug.id, quantity: 3 }]) // 1200
  await order(app, other, [{ productId: lamp.id, quantity: 1 }]) // 1500
  const cancelled = await order(app, other, [{ productId: lamp.id, quantity: 5 }])
  t.equal((await app.inject({ method: 'POST', url: `/api/v1/orders/${cancelled.id}/cancel`, headers: other.headers })).statusCode, 200)

  const res = await requestReport(app, buyer, { type: 'sales', from: day(0), to: day(1), format: 'csv' })
  t.equal(res.statusCode, 202)
  const location = res.headers.location as string
  t.equal(location, `/api/v1/reports/${res.json().data.id}`)
  t.match(res.json().data, { status: 'queued', progress: 0, scope: 'own', format: 'csv', downloadUrl: null })

  const done = await completed(app, buyer, location)
  t.match(done, { status: 'completed', progress: 100, rowCount: 1, downloadUrl: `${location}/download` })

  const file = await app.inject({ method: 'GET', url: done.downloadUrl, headers: buyer.headers })
  t.equal(file.statusCode, 200)
  t.equal(file.headers['content-type'], 'text/csv; charset=utf-8')
  t.equal(file.headers['content-disposition'], `attachment; filename="sales-${day(0)}-${day(1)}.csv"`)
  t.equal(file.body, `day,orders,items_sold,revenue_cents\r\n${day(0)},2,6,4600\r\n`, "only the buyer's own orders")

  // An admin's report covers every order (the cancelled one excluded), here as JSON.
  const all = await requestReport(app, admin, { type: 'sales', from: day(-1), to: day(1), format: 'json' })
  t.equal(all.json().data.scope, 'all')
  const allDone = await completed(app, admin, all.headers.location as string)
  const json = await app.inject({ method: 'GET', url: allDone.downloadUrl, headers: admin.headers })
  t.equal(json.headers['content-type'], 'application/json; charset=utf-8')
  t.match(json.json(), {
    type: 'sales',
    scope: 'all',
    totals: { orders: 3, itemsSold: 7, revenueCents: 6100 },
    days: [{ day: day(0), orders: 3, itemsSold: 7, revenueCents: 6100 }],
  })

  // Only the requester or an admin.
  t.equal((await app.inject({ method: 'GET', url: location, headers: other.headers })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: `${location}/download`, headers: other.headers })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: location, headers: admin.headers })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: location })).statusCode, 401)
})

t.test('a period that is empty, reversed or longer than 366 days is refused', async (t) => {
  const app = await build(t)
  const user = await account(app)
  const reversed = await requestReport(app, user, { type: 'sales', from: day(1), to: day(0) })
  t.equal(reversed.statusCode, 422)
  t.equal(reversed.json().details[0].field, 'to')
  t.equal((await requestReport(app, user, { type: 'sales', from: '2024-01-01', to: '2025-06-01' })).statusCode, 422)
  t.equal((await requestReport(app, user, { type: 'inventory', from: day(0), to: day(1) })).statusCode, 400)
  t.equal((await requestReport(app, user, { type: 'sales', from: 'yesterday', to: day(1) })).statusCode, 400)
})

t.test('downloading a report that is not built yet is a 409', async (t) => {
  // An API-only instance runs no workers, so the report stays queued.
  const app = await build(t, { ROLE: 'api' })
  const user = await account(app)
  const res = await requestReport(app, user, { type: 'sales', from: day(0), to: day(1) })
  t.equal(res.statusCode, 202)
  const download = await app.inject({ method: 'GET', url: `${res.headers.location}/download`, headers: user.headers })
  t.equal(download.statusCode, 409)
  t.equal(download.json().code, 'REPORT_NOT_READY')
})

t.test("the nightly job builds yesterday's sales report for admins", async (t) => {
  const app = await build(t)
  const admin = await account(app, 'admin')
  const user = await account(app)
  t.equal((await app.jobs.boss.getSchedules()).filter((s) => s.name === 'reports.nightly-sales').length, 1, 'scheduled')
  const jobId = await app.jobs.send('reports.nightly-sales', {}) // what the cron tick does
  const job = await waitFor(
    async () => {
      const j = await app.jobs.boss.getJobById<object>('reports.nightly-sales', jobId!)
      return j?.state === 'completed' ? j : undefined
    },
    { what: 'the nightly job' },
  )
  const { reportId } = job.output as { reportId: string }
  const done = await completed(app, admin, `/api/v1/reports/${reportId}`)
  t.match(done, { requesterId: null, scope: 'all', status: 'completed', from: `${day(-1)}T00:00:00.000Z`, to: `${day(0)}T00:00:00.000Z` })
  t.equal((await app.inject({ method: 'GET', url: `/api/v1/reports/${reportId}`, headers: user.headers })).statusCode, 404)
})
