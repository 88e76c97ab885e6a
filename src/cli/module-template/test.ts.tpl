import t from 'tap'
import { build } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'

const base = '/api/v1/__name__'

t.test('__name__', async (t) => {
  const app = await build(t)
  const alice = await createUser(app)
  const bob = await createUser(app)
  const moderator = await createUser(app, { role: 'moderator' })

  t.test('an owner creates, reads, lists, changes and deletes its own', async (t) => {
    const created = await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: 'First', description: 'hello' } })
    t.equal(created.statusCode, 201)
    const item = created.json().data
    t.equal(created.headers.location, `${base}/${item.id}`)
    t.equal(created.headers.etag, '"1"')
    t.match(item, { name: 'First', description: 'hello', ownerId: alice.id, version: 1 })

    const got = await app.inject({ method: 'GET', url: `${base}/${item.id}`, headers: alice.headers })
    t.equal(got.statusCode, 200)
    t.same(got.json().data, item)
    const unchanged = await app.inject({ method: 'GET', url: `${base}/${item.id}`, headers: { ...alice.headers, 'if-none-match': '"1"' } })
    t.equal(unchanged.statusCode, 304, 'a current ETag in If-None-Match is a 304')

    const list = await app.inject({ method: 'GET', url: `${base}?limit=10&sort=-createdAt`, headers: alice.headers })
    t.equal(list.statusCode, 200)
    t.same(list.json().meta, { total: 1, page: 1, limit: 10, offset: 0 })

    const patched = await app.inject({ method: 'PATCH', url: `${base}/${item.id}`, headers: alice.headers, payload: { name: 'Renamed' } })
    t.equal(patched.statusCode, 200)
    t.match(patched.json().data, { name: 'Renamed', description: 'hello', version: 2 })

    const deleted = await app.inject({ method: 'DELETE', url: `${base}/${item.id}`, headers: alice.headers })
    t.equal(deleted.statusCode, 204)
    const gone = await app.inject({ method: 'GET', url: `${base}/${item.id}`, headers: alice.headers })
    t.equal(gone.statusCode, 404)
    t.equal(gone.json().code, 'NOT_FOUND')
  })

  t.test('others see nothing of it (404), cannot change it; moderators can', async (t) => {
    const id = (await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: 'Mine' } })).json().data.id
    t.equal((await app.inject({ method: 'GET', url: `${base}/${id}`, headers: bob.headers })).statusCode, 404)
    t.equal((await app.inject({ method: 'PATCH', url: `${base}/${id}`, headers: bob.headers, payload: { name: 'Yours' } })).statusCode, 404)
    const bobsList = await app.inject({ method: 'GET', url: base, headers: bob.headers })
    t.same(bobsList.json().data, [], 'bob lists only his own')
    const moderated = await app.inject({ method: 'PATCH', url: `${base}/${id}`, headers: moderator.headers, payload: { description: 'checked' } })
    t.equal(moderated.statusCode, 200)
    t.equal(moderated.json().data.ownerId, alice.id)
  })

  t.test('If-Match: a stale ETag is 412, the current one applies', async (t) => {
    const item = (await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: 'Versioned' } })).json().data
    const url = `${base}/${item.id}`
    t.equal((await app.inject({ method: 'PATCH', url, headers: { ...alice.headers, 'if-match': '"1"' }, payload: { name: 'A' } })).statusCode, 200)
    const stale = await app.inject({ method: 'PATCH', url, headers: { ...alice.headers, 'if-match': '"1"' }, payload: { name: 'B' } })
    t.equal(stale.statusCode, 412)
    t.equal(stale.json().code, 'PRECONDITION_FAILED')
  })

  t.test('bad input is a 400 naming the field; no credentials a 401', async (t) => {
    const bad = await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: '' } })
    t.equal(bad.statusCode, 400)
    t.equal(bad.json().details[0].field, 'name')
    const control = await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: 'bad\u0000name' } })
    t.equal(control.statusCode, 400, 'control characters are refused')
    t.equal((await app.inject({ method: 'POST', url: base, payload: { name: 'x' } })).statusCode, 401)
    t.equal((await app.inject({ method: 'GET', url: `${base}?sort=password`, headers: alice.headers })).statusCode, 400)
  })

  t.test('changes are published as events, for the owner and staff only', async (t) => {
    const item = (await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: 'Evented' } })).json().data
    const [job] = await app.sql<{ type: string; data: { id: string; ownerId: string } }[]>`
      select data->>'type' as type, data->'data' as data from pgboss_v12.job where data->'data'->>'id' = ${item.id} limit 1`
    t.equal(job?.type, '__item__.created')
    const event = { type: '__item__.created', data: job!.data }
    t.ok(app.events.mayReceive(event, { id: alice.id, role: 'user' }), 'the owner')
    t.notOk(app.events.mayReceive(event, { id: bob.id, role: 'user' }), 'not another user')
    t.ok(app.events.mayReceive(event, { id: moderator.id, role: 'moderator' }), 'staff')
  })
})
