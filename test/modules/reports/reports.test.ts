// Reports: requested (202 + Location), built in the background, downloaded; who may see them; the
// expensive-work budget and the write permission; report.completed / report.failed and their audience.
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

const requestReport = (app: FastifyInstance, who: { headers: Record<string, string> }, body: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: '/api/v1/reports', headers: who.headers, payload: body })

const finished = (app: FastifyInstance, who: Account, location: string) =>
  waitFor(
    async () => {
      const res = await app.inject({ method: 'GET', url: location, headers: who.headers })
      const data = res.json().data
      return data?.status === 'completed' || data?.status === 'failed' ? data : undefined
    },
    { what: `report ${location}` },
  )

/** The envelopes of a report's events, as they were queued for their subscribers (one per event). */
async function eventsOf(app: FastifyInstance, reportId: string) {
  const rows = await app.sql<{ data: { id: string; type: string; data: Record<string, unknown> } }[]>`
    select distinct on (data->>'id') data from pgboss_v12.job where data->'data'->>'id' = ${reportId} and data->>'type' like 'report.%'`
  return rows.map((r) => r.data)
}

const app = await build(t)

t.test('sales report: requested (202 + Location), built in the background, downloaded as CSV', async (t) => {
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

  const done = await finished(app, buyer, location)
  t.match(done, { status: 'completed', progress: 100, rowCount: 1, downloadUrl: `${location}/download` })

  const file = await app.inject({ method: 'GET', url: done.downloadUrl, headers: buyer.headers })
  t.equal(file.statusCode, 200)
  t.equal(file.headers['content-type'], 'text/csv; charset=utf-8')
  t.equal(file.headers['content-disposition'], `attachment; filename="sales-${day(0)}-${day(1)}.csv"`)
  t.equal(file.body, `day,orders,items_sold,revenue_cents\r\n${day(0)},2,6,4600\r\n`, "only the buyer's own orders")

  // An admin's report covers every order (the cancelled one excluded), here as JSON (csv is the default).
  const all = await requestReport(app, admin, { type: 'sales', from: day(-1), to: day(1), format: 'json' })
  t.equal(all.json().data.scope, 'all')
  const allDone = await finished(app, admin, all.headers.location as string)
  const json = await app.inject({ method: 'GET', url: allDone.downloadUrl, headers: admin.headers })
  t.equal(json.headers['content-type'], 'application/json; charset=utf-8')
  t.match(json.json(), {
    type: 'sales',
    scope: 'all',
    totals: { orders: 3, itemsSold: 7, revenueCents: 6100 },
    days: [{ day: day(0), orders: 3, itemsSold: 7, revenueCents: 6100 }],
  })
  t.equal((await requestReport(app, admin, { type: 'sales', from: day(0), to: day(1) })).json().data.format, 'csv')

  // Only the requester or an admin.
  t.equal((await app.inject({ method: 'GET', url: location, headers: other.headers })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: `${location}/download`, headers: other.headers })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: location, headers: admin.headers })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: location })).statusCode, 401)
})

t.test('a report carries its version as an ETag: If-None-Match gives 304 until the build moves it', async (t) => {
  const buyer = await account(app)
  const res = await requestReport(app, buyer, { type: 'sales', from: day(0), to: day(1) })
  t.equal(res.headers.etag, '"1"', 'the queued report answers with its ETag')
  t.equal(res.json().data.version, 1)
  const location = res.headers.location as string
  const get = (ifNoneMatch: string) =>
    app.inject({ method: 'GET', url: location, headers: { ...buyer.headers, 'if-none-match': ifNoneMatch } })

  const done = await finished(app, buyer, location)
  t.equal(done.version, 4, 'started, at 70%, completed: three changes')
  const moved = await get('"1"')
  t.equal(moved.statusCode, 200, 'the queued copy is stale')
  t.equal(moved.headers.etag, '"4"')
  t.match(moved.json().data, { status: 'completed', version: 4 })
  const current = await get('"4"')
  t.equal(current.statusCode, 304)
  t.equal(current.body, '', 'no body')
  t.equal(current.headers.etag, '"4"')
})

t.test('report.completed is published with the report, for its requester and admins', async (t) => {
  const buyer = await account(app)
  const other = await account(app)
  const res = await requestReport(app, buyer, { type: 'sales', from: day(0), to: day(1) })
  const done = await finished(app, buyer, res.headers.location as string)
  const events = await waitFor(async () => {
    const found = await eventsOf(app, done.id)
    return found.length > 0 ? found : undefined
  })
  t.equal(events.length, 1, 'one event')
  t.match(events[0], { type: 'report.completed', data: { id: done.id, status: 'completed', downloadUrl: done.downloadUrl } })
  const receives = (user: { id: string; role: 'user' | 'admin' | 'moderator' }) => app.events.mayReceive(events[0]!, user)
  t.ok(receives({ id: buyer.id, role: 'user' }), 'the requester')
  t.ok(receives({ id: other.id, role: 'admin' }), 'admins')
  t.notOk(receives({ id: other.id, role: 'user' }), 'nobody else')
  t.notOk(receives({ id: other.id, role: 'moderator' }), 'not even moderators')
})

t.test('a report that cannot be built fails once, says so without internals, and publishes report.failed', async (t) => {
  const buyer = await account(app)
  const salesByDay = app.orders.salesByDay
  app.orders.salesByDay = async () => {
    throw new Error('relation "orders_secret" does not exist')
  }
  t.teardown(() => {
    app.orders.salesByDay = salesByDay
  })
  const res = await requestReport(app, buyer, { type: 'sales', from: day(0), to: day(1) })
  const failed = await finished(app, buyer, res.headers.location as string)
  t.match(failed, { status: 'failed', downloadUrl: null, error: 'The report could not be built; request it again later' })
  t.ok(failed.completedAt)

  const download = await app.inject({ method: 'GET', url: `${res.headers.location}/download`, headers: buyer.headers })
  t.equal(download.statusCode, 409)
  t.equal(download.json().code, 'REPORT_NOT_READY')
  t.notMatch(download.body, /orders_secret/, 'the cause stays in the log')

  // The dead-letter queue gives up on it too, without a second event.
  await waitFor(
    async () => {
      const [job] = await app.sql<{ state: string }[]>`
        select state::text from pgboss_v12.job where name = 'build-report-dead' and data->>'reportId' = ${failed.id}`
      return job?.state === 'completed'
    },
    { what: 'the dead-letter job' },
  )
  const events = await eventsOf(app, failed.id)
  t.equal(events.length, 1)
  t.match(events[0], { type: 'report.failed', data: { id: failed.id, status: 'failed', requesterId: buyer.id } })
})

t.test('a period that is empty, reversed or longer than 366 days is refused', async (t) => {
  const user = await account(app)
  const reversed = await requestReport(app, user, { type: 'sales', from: day(1), to: day(0) })
  t.equal(reversed.statusCode, 422)
  t.equal(reversed.json().details[0].field, 'to')
  t.equal((await requestReport(app, user, { type: 'sales', from: '2024-01-01', to: '2025-06-01' })).statusCode, 422)
  t.equal((await requestReport(app, user, { type: 'inventory', from: day(0), to: day(1) })).statusCode, 400)
  t.equal((await requestReport(app, user, { type: 'sales', from: 'yesterday', to: day(1) })).statusCode, 400)
})

t.test('requesting a report needs the write permission and spends the expensive-work budget', async (t) => {
  const user = await account(app)
  const key = await app.inject({
    method: 'POST',
    url: '/api/v1/api-keys',
    headers: user.headers,
    payload: { name: 'read only', scopes: ['read'], currentPassword: user.password },
  })
  t.equal(key.statusCode, 201)
  const readOnly = { headers: { 'x-api-key': key.json().data.key as string } }
  const refused = await requestReport(app, readOnly, { type: 'sales', from: day(0), to: day(1) })
  t.equal(refused.statusCode, 403)
  t.equal(refused.json().code, 'FORBIDDEN')

  // A token bucket of 10 per user, its keys included: the read-only key's refused request took one.
  const codes: number[] = []
  for (let i = 0; i < 10; i++) codes.push((await requestReport(app, user, { type: 'sales', from: day(0), to: day(1) })).statusCode)
  t.same(codes, [...Array(9).fill(202), 429])
  const limited = await requestReport(app, user, { type: 'sales', from: day(0), to: day(1) })
  t.equal(limited.json().code, 'RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) > 0, 'with retry-after')
  t.equal(limited.headers['x-ratelimit-limit'], '10')

  const someoneElse = await account(app)
  t.equal((await requestReport(app, someoneElse, { type: 'sales', from: day(0), to: day(1) })).statusCode, 202, 'per caller')
  const status = await app.inject({ method: 'GET', url: '/api/v1/reports/01936b91-2a3b-7c4d-8e5f-6a7b8c9d0e1f', headers: user.headers })
  t.equal(status.statusCode, 404, 'reading reports is not on that budget')
})

t.test("the nightly job builds yesterday's sales report for admins", async (t) => {
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
  const done = await finished(app, admin, `/api/v1/reports/${reportId}`)
  t.match(done, { requesterId: null, scope: 'all', status: 'completed', from: `${day(-1)}T00:00:00.000Z`, to: `${day(0)}T00:00:00.000Z` })
  t.equal((await app.inject({ method: 'GET', url: `/api/v1/reports/${reportId}`, headers: user.headers })).statusCode, 404)
  const [event] = await eventsOf(app, reportId)
  t.ok(event && app.events.mayReceive(event, { id: admin.id, role: 'admin' }), 'its event goes to admins')
  t.notOk(event && app.events.mayReceive(event, { id: user.id, role: 'user' }), 'and to no user')
})

t.test('downloading a report that is not built yet is a 409', async (t) => {
  const user = await account(app)
  // Hold the build in its query, so the report stays running until the test lets it go.
  const salesByDay = app.orders.salesByDay
  let release: (() => void) | undefined
  app.orders.salesByDay = (query) => {
    app.orders.salesByDay = salesByDay
    return new Promise((resolve) => {
      release = () => resolve(salesByDay(query))
    })
  }
  t.teardown(() => {
    app.orders.salesByDay = salesByDay
    release?.()
  })
  const res = await requestReport(app, user, { type: 'sales', from: day(0), to: day(1) })
  t.equal(res.statusCode, 202)
  const location = res.headers.location as string
  await waitFor(() => release, { what: 'the build to start' })
  const running = await app.inject({ method: 'GET', url: location, headers: user.headers })
  t.match(running.json().data, { status: 'running', downloadUrl: null })
  const download = await app.inject({ method: 'GET', url: `${location}/download`, headers: user.headers })
  t.equal(download.statusCode, 409)
  t.equal(download.json().code, 'REPORT_NOT_READY')
  t.match(download.json().error, /running/)

  release!()
  t.match(await finished(app, user, location), { status: 'completed' })
  t.equal((await app.inject({ method: 'GET', url: `${location}/download`, headers: user.headers })).statusCode, 200)
})
