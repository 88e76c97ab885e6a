import t from 'tap'
import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerAddress } from 'smtp-server'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'
import { waitFor } from '../../helpers/wait.js'
import { queueEmail, sendOrderConfirmationEmail, sendWelcomeEmail } from '../../../modules/emails/contract.js'

type Test = { teardown: (fn: () => unknown) => void }

interface Row {
  status: string
  attempts: number
  lastError: string | null
  providerMessageId: string | null
  subject: string
  sentAt: Date | null
}

const row = async (app: FastifyInstance, id: string): Promise<Row | undefined> => {
  const rows = await app.sql<Row[]>`
    select status, attempts, last_error as "lastError", provider_message_id as "providerMessageId", subject, sent_at as "sentAt"
    from email_outbox where id = ${id}`
  return rows[0]
}

const settled = (app: FastifyInstance, id: string) =>
  waitFor(
    async () => {
      const r = await row(app, id)
      return r && r.status !== 'queued' ? r : undefined
    },
    { what: `email ${id} to leave the queue`, timeoutMs: 20_000 },
  )

interface Received {
  to: string[]
  raw: string
}

/** A local SMTP server; `rcpt` decides per recipient attempt (return an SMTP code >= 400 to refuse). */
async function smtpServer(t: Test, rcpt: (address: string, attempt: number) => number | undefined = () => undefined) {
  const received: Received[] = []
  let attempts = 0
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const code = rcpt(address.address, ++attempts)
      if (!code) return callback()
      const err = Object.assign(new Error(code >= 500 ? 'mailbox unavailable' : 'try again later'), { responseCode: code })
      return callback(err)
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const { port } = server.server.address() as AddressInfo
  return { url: `smtp://127.0.0.1:${port}`, received, rcptAttempts: () => attempts }
}

t.test('log transport: a queued email is recorded as sent', async (t) => {
  const app = await build(t)
  const { id } = await sendWelcomeEmail(app, 'new-user@example.test', { name: 'Ada' })
  const sent = await settled(app, id)
  t.equal(sent.status, 'sent')
  t.equal(sent.attempts, 1)
  t.equal(sent.subject, 'Welcome to Keel')
  t.match(sent.providerMessageId, /@log\.keel>$/)
  t.ok(sent.sentAt)
})

t.test('an email queued in a rolled-back transaction is never written nor sent; a committed one is', async (t) => {
  const app = await build(t)
  let rolledBack: string | undefined
  await app.db
    .transaction(async (tx) => {
      rolledBack = (await queueEmail(app, { to: 'a@example.test', template: 'welcome', data: {} }, tx)).id
      throw new Error('roll back')
    })
    .catch(() => {})
  const committed = await app.sql.begin(async (sql) => queueEmail(app, { to: 'b@example.test', template: 'welcome', data: {} }, sql))
  await settled(app, committed.id)
  t.ok(rolledBack)
  t.equal(await row(app, rolledBack!), undefined, 'no outbox row')
  const jobs = await app.sql`select 1 from pgboss.job where name = 'send-email' and data->>'emailId' = ${rolledBack!}`
  t.equal(jobs.length, 0, 'no job')
})

t.test('template data is validated when the email is queued', async (t) => {
  const app = await build(t)
  await t.rejects(queueEmail(app, { to: 'x@example.test', template: 'order-confirmation', data: { orderId: 'o1' } as never }), {
    code: 'VALIDATION_ERROR',
  })
  const rows = await app.sql`select 1 from email_outbox`
  t.equal(rows.length, 0, 'nothing written')
})

t.test('SMTP: the order confirmation reaches a real SMTP server', async (t) => {
  const smtp = await smtpServer(t)
  const app = await build(t, { SMTP_URL: smtp.url, MAIL_FROM: 'Shop <shop@example.test>' })
  const { id } = await sendOrderConfirmationEmail(app, 'buyer@example.test', {
    orderId: 'ord-42',
    totalCents: 2500,
    items: [{ name: 'Lamp', quantity: 2, unitPriceCents: 1250 }],
  })
  const sent = await settled(app, id)
  t.equal(sent.status, 'sent')
  t.equal(smtp.received.length, 1)
  t.same(smtp.received[0]!.to, ['buyer@example.test'])
  t.match(smtp.received[0]!.raw, /Subject: Order ord-42 confirmed/)
  t.match(smtp.received[0]!.raw, /From: Shop <shop@example\.test>/)
  t.match(smtp.received[0]!.raw, /Lamp @ 12\.50 USD/)
  t.match(smtp.received[0]!.raw, /Total: 25\.00 USD/)
  t.match(sent.providerMessageId, /^<.+>$/)
})

t.test('SMTP: a transient 4xx is retried and then delivered', async (t) => {
  const smtp = await smtpServer(t, (_address, attempt) => (attempt === 1 ? 451 : undefined))
  const app = await build(t, { SMTP_URL: smtp.url })
  const { id } = await sendWelcomeEmail(app, 'retry@example.test')
  const sent = await settled(app, id)
  t.equal(sent.status, 'sent')
  t.equal(sent.attempts, 2, 'one failure, one success')
  t.equal(smtp.received.length, 1)
})

t.test('SMTP: a permanent 5xx fails the email at once, without retry', async (t) => {
  const smtp = await smtpServer(t, () => 550)
  const app = await build(t, { SMTP_URL: smtp.url })
  const { id } = await sendWelcomeEmail(app, 'nobody@example.test')
  const failed = await settled(app, id)
  t.equal(failed.status, 'failed')
  t.equal(failed.attempts, 1)
  t.match(failed.lastError, /550/)
  t.equal(smtp.rcptAttempts(), 1, 'the server saw one attempt')
  // The job fails too (right after the row is marked), without a retry.
  await waitFor(
    async () => {
      const [job] = await app.sql<
        { state: string }[]
      >`select state::text from pgboss.job where name = 'send-email' and data->>'emailId' = ${id}`
      return job?.state === 'failed'
    },
    { what: 'the send-email job to fail' },
  )
  t.equal(smtp.rcptAttempts(), 1, 'still one attempt')
})

t.test('SMTP: an email that keeps failing transiently is marked failed after EMAIL_MAX_ATTEMPTS', async (t) => {
  const smtp = await smtpServer(t, () => 421)
  const app = await build(t, { SMTP_URL: smtp.url, EMAIL_MAX_ATTEMPTS: 2 })
  const { id } = await sendWelcomeEmail(app, 'flaky@example.test')
  const failed = await settled(app, id)
  t.equal(failed.status, 'failed')
  t.equal(failed.attempts, 2)
  t.equal(smtp.rcptAttempts(), 2)
  // The dead-letter queue got it too (and agreed).
  await waitFor(async () => (await app.jobs.stats())['send-email-dead']!.completed === 1, { what: 'dead-letter job' })
})

t.test('GET /emails: admins list the outbox with filters; others are refused', async (t) => {
  const app = await build(t)
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const a = await sendWelcomeEmail(app, 'one@example.test')
  const b = await sendOrderConfirmationEmail(app, 'two@example.test', { orderId: 'o-1', totalCents: 100 })
  await settled(app, a.id)
  await settled(app, b.id)

  t.equal((await app.inject({ method: 'GET', url: '/api/v1/emails' })).statusCode, 401)
  const forbidden = await app.inject({ method: 'GET', url: '/api/v1/emails', headers: user.headers })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().code, 'FORBIDDEN')

  const all = await app.inject({ method: 'GET', url: '/api/v1/emails?sort=createdAt', headers: admin.headers })
  t.equal(all.statusCode, 200)
  const body = all.json()
  t.equal(body.success, true)
  t.same(
    body.data.map((e: { to: string }) => e.to),
    ['one@example.test', 'two@example.test'],
  )
  t.match(body.meta, { total: 2, page: 1, limit: 20, offset: 0 })
  t.match(body.data[0], { template: 'welcome', status: 'sent', attempts: 1, subject: 'Welcome to Keel' })

  const filtered = await app.inject({
    method: 'GET',
    url: '/api/v1/emails?template=order-confirmation&status=sent&to=two@example.test',
    headers: admin.headers,
  })
  t.same(
    filtered.json().data.map((e: { id: string }) => e.id),
    [b.id],
  )

  const paged = await app.inject({ method: 'GET', url: '/api/v1/emails?sort=-createdAt&limit=1&offset=1', headers: admin.headers })
  t.same(
    paged.json().data.map((e: { id: string }) => e.id),
    [a.id],
  )
  t.match(paged.json().meta, { total: 2, limit: 1, offset: 1, page: 2 })

  const bad = await app.inject({ method: 'GET', url: '/api/v1/emails?status=bounced', headers: admin.headers })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VALIDATION_ERROR')
})
