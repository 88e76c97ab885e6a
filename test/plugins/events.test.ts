// Business events: declared, validated, queued for each subscriber in the producer's transaction,
// received once by each, and offered only to their audience.
import t from 'tap'
import { Type } from '@sinclair/typebox'
import { build } from '../helpers/build.js'
import { account } from '../helpers/marketplace.js'
import { waitFor } from '../helpers/wait.js'
import { defineEvent, onEvent, onEvents, type EventEnvelope } from '../../plugins/events.js'

const thingMoved = defineEvent({
  name: 'test.thing-moved',
  description: 'A test event',
  schema: Type.Object({ thingId: Type.String(), ownerId: Type.String(), to: Type.Integer() }),
  audience: (thing) => ({ users: [thing.ownerId], roles: ['admin'] }),
  audienceText: 'the owner and admins',
})
const announced = defineEvent({
  name: 'test.announced',
  description: 'A public test event',
  schema: Type.Object({ text: Type.String() }),
  audience: () => ({ public: true }),
  audienceText: 'everyone',
})

t.test('events', async (t) => {
  const app = await build(t)
  app.events.declare(thingMoved, announced)
  const moved: EventEnvelope<{ thingId: string; to: number }>[] = []
  const everything: EventEnvelope[] = []
  await app.jobs.define(onEvent(thingMoved, { name: 'test.on-moved', handler: async (event) => void moved.push(event) }))
  await app.jobs.define(onEvents([thingMoved, announced], { name: 'test.on-both', handler: async (event) => void everything.push(event) }))

  t.test('a published event reaches each subscriber once, in an envelope with its id, type and time', async (t) => {
    const envelope = await app.events.publish(thingMoved, { thingId: 't1', ownerId: 'u1', to: 3 })
    await waitFor(() => moved.some((e) => e.id === envelope.id) && everything.some((e) => e.id === envelope.id), {
      what: 'both subscribers',
    })
    const got = moved.find((e) => e.id === envelope.id)!
    t.match(got, { type: 'test.thing-moved', data: { thingId: 't1', to: 3 }, requestId: null })
    t.ok(Date.parse(got.occurredAt) <= Date.now())
    await app.events.publish(announced, { text: 'hello' })
    await waitFor(() => everything.some((e) => e.type === 'test.announced'), { what: 'the second event' })
    t.notOk(
      moved.some((e) => e.type === 'test.announced'),
      'a subscriber gets only the events it subscribed to',
    )
  })

  t.test('published in a transaction, an event exists only if the transaction commits', async (t) => {
    let rolledBack = ''
    await app.db
      .transaction(async (tx) => {
        rolledBack = (await app.events.publish(thingMoved, { thingId: 'gone', ownerId: 'u1', to: 1 }, { tx })).id
        throw new Error('roll back')
      })
      .catch(() => {})
    const committed = await app.db.transaction(async (tx) =>
      app.events.publish(thingMoved, { thingId: 'kept', ownerId: 'u1', to: 2 }, { tx }),
    )
    await waitFor(() => moved.some((e) => e.id === committed.id), { what: 'the committed event' })
    const jobs = await app.sql`select 1 from pgboss_v12.job where data->>'id' = ${rolledBack}`
    t.equal(jobs.length, 0, 'nothing was queued for the rolled-back one')
  })

  t.test('a payload that does not match the schema, or an event nobody declared, is refused', async (t) => {
    await t.rejects(
      app.events.publish(thingMoved, { thingId: 't2', ownerId: 'u1', to: 'far' } as never),
      /invalid payload for event test.thing-moved: \/to/,
    )
    const stray = defineEvent({ ...announced, name: 'test.undeclared' })
    await t.rejects(app.events.publish(stray, { text: 'x' }), /not declared/)
  })

  t.test('the audience decides who may receive an event', async (t) => {
    const event = { type: 'test.thing-moved', data: { thingId: 't', ownerId: 'u1', to: 1 } }
    t.equal(app.events.mayReceive(event, { id: 'u1', role: 'user' }), true, 'the owner')
    t.equal(app.events.mayReceive(event, { id: 'u2', role: 'user' }), false, 'another user')
    t.equal(app.events.mayReceive(event, { id: 'u3', role: 'moderator' }), false, 'a role not named')
    t.equal(app.events.mayReceive(event, { id: 'u4', role: 'admin' }), true, 'a role named')
    t.equal(app.events.mayReceive({ type: 'test.announced', data: { text: 'x' } }, { id: 'u2', role: 'user' }), true, 'public')
    t.equal(app.events.mayReceive({ type: 'nobody.declared', data: {} }, { id: 'u1', role: 'admin' }), false, 'undeclared: nobody')
  })

  t.test('an event published while serving a request carries its request id', async (t) => {
    const seller = await account(app)
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/products',
      headers: { ...seller.headers, 'x-request-id': 'trace-me-123' },
      payload: { name: 'Traced', priceCents: 100 },
    })
    t.equal(res.statusCode, 201)
    const [job] = await app.sql<{ requestId: string }[]>`
      select data->>'requestId' as "requestId" from pgboss_v12.job where name = 'webhooks.fan-out' and data->'data'->>'productId' = ${res.json().data.id}`
    t.equal(job?.requestId, 'trace-me-123')
  })
})
