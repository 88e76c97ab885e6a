// The audit trail as an admin and a user read it: security-relevant changes are recorded with who,
// what, from where and which request — only when the change commits, never with a secret — listed
// with filters in keyset pages, each user seeing only their own account's, old events purged.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { bearer, createUser, login, type TestUser } from '../../helpers/auth.js'

// Registered over HTTP, Ada's address is never verified here: nothing is refused for it.
const app = await build(t, { REQUIRE_VERIFIED_EMAIL_FOR: 'none' })
const admin = await createUser(app, { role: 'admin' })

interface AuditEvent {
  id: string
  occurredAt: string
  actorUserId: string | null
  actorApiKeyId: string | null
  action: string
  subjectType: string | null
  subjectId: string | null
  accountId: string | null
  clientAddress: string | null
  requestId: string | null
  details: Record<string, unknown>
}

const list = async (caller: { headers: Record<string, string> }, query: Record<string, string | number> = {}) => {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString()
  const res = await app.inject({ method: 'GET', url: `/api/v1/audit-events${qs ? `?${qs}` : ''}`, headers: caller.headers })
  if (res.statusCode !== 200) throw new Error(`GET /audit-events: ${res.statusCode} ${res.body}`)
  return res.json() as { data: AuditEvent[]; meta: { nextCursor: string | null } }
}

/** Every event about an account (as the admin sees them), oldest first. */
const eventsOf = async (accountId: string) => (await list(admin, { accountId, limit: 100 })).data.reverse()

t.test('what an account goes through is recorded: who, what, from where, which request — and no secret', async (t) => {
  const password = 'Paper-Trail-Pass-1'
  const reg = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { email: 'ada.audited@example.com', password },
    remoteAddress: '198.51.100.4',
  })
  t.equal(reg.statusCode, 201, reg.body)
  const userId = reg.json().data.id as string
  const wrong = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: 'ada.audited@example.com', password: 'Wrong-Pass-123' },
    headers: { 'x-request-id': 'failed-login-1' },
    remoteAddress: '203.0.113.9',
  })
  t.equal(wrong.statusCode, 401)
  const ok = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: 'ada.audited@example.com', password },
    remoteAddress: '198.51.100.4',
  })
  const { accessToken, refreshToken, sessionId } = ok.json().data
  const headers = bearer(accessToken)

  const newPassword = 'Fresh-Trail-Pass-2'
  const changed = await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${userId}`,
    headers,
    payload: { password: newPassword, currentPassword: password },
  })
  t.equal(changed.statusCode, 200, changed.body)
  const session = await login(app, 'ada.audited@example.com', newPassword)
  const own = bearer(session.accessToken)
  const key = (
    await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: own, payload: { scopes: ['read'], currentPassword: newPassword } })
  ).json().data
  const rotated = (await app.inject({ method: 'POST', url: `/api/v1/api-keys/${key.id}/rotate`, headers: own })).json().data
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${key.id}`, headers: admin.headers })).statusCode, 204)
  const hook = await app.inject({
    method: 'POST',
    url: '/api/v1/webhooks',
    headers: own,
    payload: { url: 'https://example.test/hook', events: ['order.created'], currentPassword: newPassword },
  })
  t.equal(hook.statusCode, 201, hook.body)
  const webhook = hook.json().data
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${webhook.id}`, headers: own })).statusCode, 204)
  const promoted = await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${userId}`,
    headers: admin.headers,
    payload: { role: 'moderator' },
  })
  t.equal(promoted.statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: own })).statusCode, 204)

  const events = await eventsOf(userId)
  t.same(
    events.map((e) => e.action),
    [
      'user.registered',
      'auth.login.failed',
      'auth.login.succeeded',
      'user.password.changed',
      'auth.login.succeeded',
      'api_key.created',
      'api_key.rotated',
      'api_key.revoked',
      'webhook.created',
      'webhook.deleted',
      'user.role.changed',
      'auth.logout',
    ],
  )
  const [registered, failed, loggedIn, passwordChanged] = events
  t.match(registered, { actorUserId: null, subjectType: 'user', subjectId: userId, clientAddress: '198.51.100.4' })
  t.match(failed, {
    actorUserId: null,
    subjectType: 'user',
    subjectId: userId,
    clientAddress: '203.0.113.9',
    requestId: 'failed-login-1',
    details: { reason: 'wrong_password' },
  })
  t.match(loggedIn, { actorUserId: userId, subjectType: 'session', subjectId: sessionId })
  t.match(passwordChanged, { actorUserId: userId, subjectId: userId, details: {} })
  const byAction = (action: string) => events.find((e) => e.action === action)!
  t.match(byAction('api_key.created'), { actorUserId: userId, subjectType: 'api_key', subjectId: key.id, details: { scopes: ['read'] } })
  t.match(
    byAction('api_key.revoked'),
    { actorUserId: admin.id, subjectId: key.id, accountId: userId },
    "an admin's action on the user's key",
  )
  t.match(byAction('webhook.deleted'), { actorUserId: userId, subjectType: 'webhook', subjectId: webhook.id })
  t.match(byAction('user.role.changed'), { actorUserId: admin.id, subjectId: userId, details: { from: 'user', to: 'moderator' } })
  t.match(byAction('auth.logout'), { actorUserId: userId, subjectType: 'session', subjectId: session.sessionId, details: { all: false } })
  for (const e of events) t.match(e.requestId, /\S/, `${e.action} names its request`)

  const all = JSON.stringify(events)
  for (const secret of [password, newPassword, 'Wrong-Pass-123', accessToken, refreshToken, key.key, rotated.key, webhook.secret])
    t.notOk(all.includes(secret), 'no secret in the trail')
})

t.test('a failed login for an unknown account records no email', async (t) => {
  const before = (await list(admin, { action: 'auth.login.failed', limit: 1 })).data[0]?.id
  const email = 'nobody-here-9f3a@example.com'
  await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: 'Whatever-Pass-1' } })
  const [latest] = (await list(admin, { action: 'auth.login.failed', limit: 1 })).data
  t.not(latest!.id, before, 'recorded')
  t.match(latest, { actorUserId: null, subjectId: null, accountId: null, details: { reason: 'unknown_email' } })
  t.notOk(JSON.stringify(latest).includes(email))
})

t.test('an event is written only when its change commits', async (t) => {
  t.test('demoting the last admin is refused: no role change is recorded', async (t) => {
    // A database of its own: here the admin must be the only one.
    const solo = await build(t)
    const only = await createUser(solo, { role: 'admin' })
    const res = await solo.inject({ method: 'PATCH', url: `/api/v1/users/${only.id}`, headers: only.headers, payload: { role: 'user' } })
    t.equal(res.statusCode, 409)
    const events = await solo.inject({ method: 'GET', url: `/api/v1/audit-events?action=user.role.changed`, headers: only.headers })
    t.same(events.json().data, [], 'nothing recorded')
  })

  t.test('an event recorded in a transaction that rolls back is gone with it', async (t) => {
    const user = await createUser(app)
    await t.rejects(
      app.db.transaction(async (tx) => {
        await app.audit.record(tx, { action: 'user.updated', subject: { type: 'user', id: user.id }, details: { fields: ['name'] } })
        throw new Error('the change fails after its event was written')
      }),
    )
    await app.db.transaction((tx) =>
      app.audit.record(tx, {
        action: 'user.status.changed',
        subject: { type: 'user', id: user.id },
        details: { from: 'active', to: 'active' },
      }),
    )
    t.same(
      (await eventsOf(user.id)).map((e) => e.action),
      ['auth.login.succeeded', 'user.status.changed'],
      'the committed one only',
    )
  })

  t.test('a secret handed to the writer by mistake is dropped', async (t) => {
    const user = await createUser(app)
    await app.audit.record(app.db, {
      action: 'user.updated',
      subject: { type: 'user', id: user.id },
      details: { fields: ['name'], password: 'oops', newPassword: 'oops', refreshToken: 'oops', key: 'oops', secretHash: 'oops' },
    })
    const [event] = (await list(admin, { subjectId: user.id, action: 'user.updated' })).data
    t.same(event!.details, { fields: ['name'] })
  })
})

t.test('filters and keyset pages', async (t) => {
  const user = await createUser(app)
  const other = await createUser(app)
  // Five failed logins on the user's account (from five clients: one would be throttled after three), one on the other's.
  for (let i = 0; i < 5; i++)
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: user.email, password: `Wrong-Pass-${i}00` },
      remoteAddress: `192.0.2.${i + 1}`,
    })
  await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: other.email, password: 'Wrong-Pass-900' } })

  const failures = { action: 'auth.login.failed', subjectId: user.id }
  const seen: AuditEvent[] = []
  let cursor: string | undefined
  let pages = 0
  do {
    const page = await list(admin, { ...failures, limit: 2, ...(cursor ? { cursor } : {}) })
    seen.push(...page.data)
    cursor = page.meta.nextCursor ?? undefined
    pages++
  } while (cursor)
  t.equal(pages, 3, '2 + 2 + 1')
  t.equal(seen.length, 5)
  t.equal(new Set(seen.map((e) => e.id)).size, 5, 'no event twice')
  t.ok(
    seen.every((e, i) => i === 0 || e.occurredAt <= seen[i - 1]!.occurredAt),
    'newest first',
  )
  t.ok(seen.every((e) => e.action === 'auth.login.failed' && e.subjectId === user.id))

  t.same(
    (await list(admin, { actorId: user.id, action: 'auth.login.succeeded' })).data.map((e) => e.subjectId),
    [user.sessionId],
  )
  t.equal((await list(admin, { subjectType: 'session', subjectId: user.sessionId })).data.length, 1)

  const oldest = seen.at(-1)!
  const newest = seen[0]!
  const window = await list(admin, { ...failures, from: oldest.occurredAt, to: newest.occurredAt, limit: 100 })
  t.ok(window.data.length >= 1 && window.data.length < 5, '`to` is exclusive')
  t.ok(
    window.data.every((e) => e.occurredAt >= oldest.occurredAt && e.occurredAt < newest.occurredAt),
    'inside the window',
  )
  t.same((await list(admin, { ...failures, from: '2000-01-01T00:00:00.000Z', to: '2000-01-02T00:00:00.000Z' })).data, [])

  const reversed = await app.inject({
    method: 'GET',
    url: '/api/v1/audit-events?from=2026-01-02T00:00:00.000Z&to=2026-01-01T00:00:00.000Z',
    headers: admin.headers,
  })
  t.equal(reversed.statusCode, 400)
  const tampered = await app.inject({ method: 'GET', url: '/api/v1/audit-events?cursor=bm9wZQ', headers: admin.headers })
  t.equal(tampered.statusCode, 400, 'a bad cursor is a 400, not a 500')
  const unknown = await app.inject({ method: 'GET', url: '/api/v1/audit-events?action=user.hacked', headers: admin.headers })
  t.equal(unknown.statusCode, 400, 'actions are a closed set')
})

t.test("a user sees their own account's events and nobody else's", async (t) => {
  const alice: TestUser = await createUser(app)
  const bob: TestUser = await createUser(app)
  await app.inject({ method: 'PATCH', url: `/api/v1/users/${alice.id}`, headers: admin.headers, payload: { name: 'Alice Renamed' } })
  await app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bob.headers, payload: { currentPassword: bob.password } })

  const mine = (await list(alice, { limit: 100 })).data
  t.ok(mine.length >= 2)
  t.ok(
    mine.every((e) => e.accountId === alice.id),
    'only events about her account',
  )
  t.ok(
    mine.some((e) => e.action === 'user.updated' && e.actorUserId === admin.id),
    "including an admin's action on it",
  )
  t.same((await list(alice, { accountId: bob.id })).data, [], "asking for Bob's gives nothing")
  t.same((await list(alice, { actorId: bob.id })).data, [])
  t.ok(
    (await list(admin, { accountId: bob.id })).data.some((e) => e.action === 'api_key.created'),
    'the admin sees them',
  )
  const anonymous = await app.inject({ method: 'GET', url: '/api/v1/audit-events' })
  t.equal(anonymous.statusCode, 401)
})

t.test('the retention job deletes events older than AUDIT_RETENTION_DAYS and keeps the rest', async (t) => {
  const short: FastifyInstance = await build(t, { AUDIT_RETENTION_DAYS: 30 })
  const user = await createUser(short)
  const subject = { type: 'user' as const, id: user.id }
  await short.audit.record(short.db, { action: 'user.updated', subject, details: { age: 'old' } })
  await short.audit.record(short.db, { action: 'user.updated', subject, details: { age: 'recent' } })
  await short.sql`update audit_events set occurred_at = now() - interval '31 days' where details->>'age' = 'old'`
  await short.sql`update audit_events set occurred_at = now() - interval '29 days' where details->>'age' = 'recent'`

  const job = short.jobs.definitions.get('audit-events.purge')!
  t.ok(job.schedule, 'scheduled')
  await job.handler({}, { id: 'test', retryCount: 0, retryLimit: 0, isFinalAttempt: true, log: short.log })
  const rows = await short.sql<
    { age: string | null; action: string }[]
  >`select details->>'age' as age, action from audit_events order by occurred_at`
  t.same(
    rows.map((r) => r.age ?? r.action),
    ['recent', 'auth.login.succeeded'],
    'the 31-day-old event is gone',
  )
})
