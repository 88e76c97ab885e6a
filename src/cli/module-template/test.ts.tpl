import t from 'tap'
import { build } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'

const base = '/api/v1/__name__'

t.test('a user creates, reads, lists, changes and deletes its own __name__', async (t) => {
  const app = await build(t)
  const alice = await createUser(app)
  const created = await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: 'First', description: 'hello' } })
  t.equal(created.statusCode, 201)
  const item = created.json().data
  t.equal(created.headers.location, `${base}/${item.id}`)
  t.match(item, { name: 'First', description: 'hello', ownerId: alice.id, version: 1 })

  const got = await app.inject({ method: 'GET', url: `${base}/${item.id}`, headers: alice.headers })
  t.equal(got.statusCode, 200)
  t.same(got.json().data, item)

  const list = await app.inject({ method: 'GET', url: `${base}?limit=10&sort=-createdAt`, headers: alice.headers })
  t.equal(list.statusCode, 200)
  t.same(list.json().meta, { total: 1, page: 1, limit: 10, offset: 0 })

  const patched = await app.inject({ method: 'PATCH', url: `${base}/${item.id}`, headers: alice.headers, payload: { name: 'Renamed' } })
  t.equal(patched.statusCode, 200)
  t.match(patched.json().data, { name: 'Renamed', version: 2 })

  const deleted = await app.inject({ method: 'DELETE', url: `${base}/${item.id}`, headers: alice.headers })
  t.equal(deleted.statusCode, 204)
  const gone = await app.inject({ method: 'GET', url: `${base}/${item.id}`, headers: alice.headers })
  t.equal(gone.statusCode, 404)
  t.equal(gone.json().code, 'NOT_FOUND')
})

t.test('bad input is a 400 with the field named, no token a 401, another owner a 403', async (t) => {
  const app = await build(t)
  const alice = await createUser(app)
  const bob = await createUser(app)
  const bad = await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: '' } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().details[0].field, 'name')

  const anonymous = await app.inject({ method: 'POST', url: base, payload: { name: 'x' } })
  t.equal(anonymous.statusCode, 401)

  const created = await app.inject({ method: 'POST', url: base, headers: alice.headers, payload: { name: 'Mine' } })
  const id = created.json().data.id
  const stolen = await app.inject({ method: 'PATCH', url: `${base}/${id}`, headers: bob.headers, payload: { name: 'Yours' } })
  t.equal(stolen.statusCode, 403)
  const unknownSort = await app.inject({ method: 'GET', url: `${base}?sort=password`, headers: alice.headers })
  t.equal(unknownSort.statusCode, 400)
})
