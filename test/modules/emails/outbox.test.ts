// The email outbox: queued (a row and a job), sent by the log transport or a real SMTP server with
// retries, listed for admins; the order confirmation as a subscriber of order.created, once per event.
// Two apps for the whole file: one with the log transport, one with a local SMTP server.
import t from 'tap'
import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerAddress } from 'smtp-server'
import type { FastifyInstance } from 'fastify'
import { build } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'
import { product } from '../../helpers/marketplace.js'
import { waitFor } from '../../helpers/wait.js'
import { newId } from '../../../src/lib/ids.js'
import { createEmailRepository } from '../../../modules/emails/repository.js'
import { createEmailOutbox, type QueueEmailInput } from '../../../modules/emails/service.js'

type Test = { teardown: (fn: () => unknown) => void }

interface Row {
  to: string
  template: string
  status: string
  attempts: number
  lastError: string | null
  providerMessageId: string | null
  subject: string
  text: string
  eventId: string | null
  sentAt: Date | null
}

const rows = (app: FastifyInstance, where: { id?: string; to?: string }) =>
  app.sql<Row[]>`
    select "to", template, status, attempts, last_error as "lastError", provider_message_id as "providerMessageId", subject, text,
      event_id as "eventId", sent_at as "sentAt"
    from email_outbox where ${where.id ? app.sql`id = ${where.id}` : app.sql`"to" = ${where.to!}`} order by created_at`

const settled = (app: FastifyInstance, id: string) =>
  waitFor(
    async () => {
      const [r] = await rows(app, { id })
      return r && r.status !== 'queued' ? r : undefined
    },
    { what: `email ${id} to leave the queue`, timeoutMs: 20_000 },
  )

/** Sent, and its send-email job finished (so whatever the worker does after the row changed is done). */
const sentAndDone = async (app: FastifyInstance, id: string) => {
  await waitFor(
    async () => {
      const [job] = await app.sql<
        { state: string }[]
      >`select state::text from pgboss_v12.job where name = 'send-email' and data->>'emailId' = ${id}`
      return job?.state === 'completed'
    },
    { what: `the send-email job of ${id}` },
  )
}

/** Queue through the module's own outbox (other modules send through events, not calls). */
async function queue(app: FastifyInstance, input: QueueEmailInput): Promise<string> {
  const queued = await createEmailOutbox({ db: app.db, cache: app.cache, jobs: app.jobs, repo: createEmailRepository() }).queue(input)
  if (!queued) throw new Error('not queued')
  return queued.id
}

const orderId = () => newId()

interface Received {
  to: string[]
  raw: string
}

/** A local SMTP server; `rcpt` decides per recipient and attempt (return an SMTP code >= 400 to refuse). */
async function smtpServer(t: Test, rcpt: (address: string, attempt: number) => number | undefined) {
  const received: Received[] = []
  const attempts = new Map<string, number>()
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const attempt = (attempts.get(address.address) ?? 0) + 1
      attempts.set(address.address, attempt)
      const code = rcpt(address.address, attempt)
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
  return {
    url: `smtp://127.0.0.1:${port}`,
    receivedBy: (address: string) => received.filter((r) => r.to.includes(address)),
    attemptsFor: (address: string) => attempts.get(address) ?? 0,
  }
}

const app = await build(t)

t.test('log transport: a queued email is recorded as sent', async (t) => {
  const id = await queue(app, { to: 'new-user@example.test', template: 'welcome', data: { name: 'Ada' } })
  const sent = await settled(app, id)
  t.match(sent, { status: 'sent', attempts: 1, subject: 'Welcome to Keel', text: /^Hello Ada,\n/, eventId: null })
  t.match(sent.providerMessageId, /@log\.keel>$/)
  t.ok(sent.sentAt)
})

t.test('template data is checked when the email is queued: nothing is written', async (t) => {
  await t.rejects(queue(app, { to: 'invalid@example.test', template: 'order-confirmation', data: { orderId: 'o1' } as never }), {
    code: 'VALIDATION_ERROR',
  })
  t.same(await rows(app, { to: 'invalid@example.test' }), [], 'no outbox row')
})

t.test('names and other text are stripped of control characters before they reach an email', async (t) => {
  const id = await queue(app, {
    to: 'control@example.test',
    template: 'order-confirmation',
    data: {
      name: 'Ada\r\nBcc: eve@example.test\u0007',
      orderId: orderId(),
      totalCents: 100,
      items: [{ name: 'Lamp\u0000\u001b[31m\u202eevil\u0085', quantity: 1, unitPriceCents: 100 }],
    },
  })
  const [email] = await rows(app, { id })
  t.match(email!.text, /^Hello AdaBcc: eve@example\.test,\n/, 'the name is one line, without its control characters')
  t.match(email!.text, /\n {2}1 × Lamp\[31mevil @ 1\.00 USD\n/, 'so is a product name')
  const body = email!.text.replace(/\n/g, '') // the template's own line breaks are all it keeps
  t.notOk(/[\p{Cc}\u202e]/u.test(body), 'no control character left')

  const welcome = await queue(app, { to: 'control@example.test', template: 'welcome', data: { name: '\u202eGrace\tHopper\r' } })
  const [w] = await rows(app, { id: welcome })
  t.match(w!.text, /^Hello GraceHopper,\n/)
})

t.test('the order confirmation follows order.created, once per event even when its job runs again', async (t) => {
  const seller = await createUser(app)
  const buyer = await createUser(app, { name: 'Bob Buyer' })
  // The API refuses control characters in names; an older row might still hold one.
  await app.sql`update users set name = ${'Bob\u0007 Buyer\n'} where id = ${buyer.id}`
  const lamp = await product(app, seller, { name: 'Lamp', priceCents: 1250, stock: 5 })
  const placed = await app.inject({
    method: 'POST',
    url: '/api/v1/orders',
    headers: buyer.headers,
    payload: { items: [{ productId: lamp.id, quantity: 2 }] },
  })
  t.equal(placed.statusCode, 201)
  const order = placed.json().data as { id: string }

  const confirmations = () => rows(app, { to: buyer.email })
  const [email] = await waitFor(async () => ((await confirmations())[0]?.status === 'sent' ? confirmations() : undefined), {
    what: 'the order confirmation',
  })
  t.match(email, { template: 'order-confirmation', subject: `Order ${order.id} confirmed` })
  t.match(email!.text, /^Hello Bob Buyer,\n/)
  t.match(email!.text, /2 × Lamp @ 12\.50 USD\nTotal: 25\.00 USD/)

  // A retried subscriber job (same event) queues nothing more.
  const [job] = await app.sql<{ data: { id: string; data: { id: string } } }[]>`
    select data from pgboss_v12.job where name = 'emails.order-confirmation' and data->'data'->>'id' = ${order.id}`
  t.equal(job!.data.id, email!.eventId, 'the email names the event it was sent for')
  const again = await app.jobs.send('emails.order-confirmation', job!.data)
  const rerun = await waitFor(
    async () => {
      const [j] = await app.sql<{ state: string; output: unknown }[]>`select state::text, output from pgboss_v12.job where id = ${again!}`
      return j?.state === 'completed' ? j : undefined
    },
    { what: 'the second run of the subscriber' },
  )
  t.same(rerun.output, { skipped: 'already queued for this event' })
  t.equal((await confirmations()).length, 1, 'one confirmation')
})

t.test('GET /emails: admins list the outbox with filters and a cached total; others are refused', async (t) => {
  const admin = await createUser(app, { role: 'admin' })
  const user = await createUser(app)
  const list = async (query = '') => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/emails${query}`, headers: admin.headers })
    t.equal(res.statusCode, 200, query)
    return res.json() as { success: boolean; data: { id: string; to: string }[]; meta: { total: number } }
  }
  const before = (await list()).meta.total
  const a = await queue(app, { to: 'one@example.test', template: 'welcome', data: {} })
  const b = await queue(app, { to: 'two@example.test', template: 'order-confirmation', data: { orderId: orderId(), totalCents: 100 } })
  await sentAndDone(app, a)
  await sentAndDone(app, b)

  t.equal((await app.inject({ method: 'GET', url: '/api/v1/emails' })).statusCode, 401)
  const forbidden = await app.inject({ method: 'GET', url: '/api/v1/emails', headers: user.headers })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().code, 'FORBIDDEN')

  const all = await list('?sort=-createdAt')
  t.equal(all.success, true)
  t.equal(all.meta.total, before + 2, 'queueing dropped the cached total')
  t.same(
    all.data.slice(0, 2).map((e) => e.to),
    ['two@example.test', 'one@example.test'],
  )
  t.match(all.data[1], { template: 'welcome', status: 'sent', attempts: 1, subject: 'Welcome to Keel', eventId: null })

  const filtered = await list('?template=order-confirmation&status=sent&to=two@example.test')
  t.same(
    filtered.data.map((e) => e.id),
    [b],
  )
  t.equal(filtered.meta.total, 1)

  const paged = await list('?sort=-createdAt&limit=1&offset=1')
  t.same(
    paged.data.map((e) => e.id),
    [a],
  )
  t.match(paged.meta, { total: before + 2, limit: 1, offset: 1, page: 2 })

  // The total is counted once per filter set, not per request: a row written behind the service's
  // back is not seen until the next write through it drops the cached count.
  await app.sql`insert into email_outbox (id, "to", template, subject, text, status) values (${newId()}, 'raw@example.test', 'welcome', 's', 't', 'sent')`
  t.equal((await list()).meta.total, before + 2, 'cached')
  await queue(app, { to: 'three@example.test', template: 'welcome', data: {} })
  t.equal((await list()).meta.total, before + 4, 'recounted after a write')

  const bad = await app.inject({ method: 'GET', url: '/api/v1/emails?status=bounced', headers: admin.headers })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'VALIDATION_ERROR')
})

t.test('SMTP', async (t) => {
  // Per recipient: retry@ is refused once (4xx), nobody@ always with a 5xx, flaky@ always with a 4xx.
  const smtp = await smtpServer(t, (address, attempt) => {
    if (address.startsWith('retry@')) return attempt === 1 ? 451 : undefined
    if (address.startsWith('nobody@')) return 550
    if (address.startsWith('flaky@')) return 421
    return undefined
  })
  const mailer = await build(t, { SMTP_URL: smtp.url, MAIL_FROM: 'Shop <shop@example.test>', EMAIL_MAX_ATTEMPTS: 2 })

  t.test('the order confirmation reaches a real SMTP server', async (t) => {
    const id = orderId()
    const emailId = await queue(mailer, {
      to: 'buyer@example.test',
      template: 'order-confirmation',
      data: { name: 'Ada', orderId: id, totalCents: 2500, items: [{ name: 'Lamp', quantity: 2, unitPriceCents: 1250 }] },
    })
    const sent = await settled(mailer, emailId)
    t.equal(sent.status, 'sent')
    const [received, ...more] = smtp.receivedBy('buyer@example.test')
    t.equal(more.length, 0, 'one message')
    t.match(received!.raw, new RegExp(`Subject: Order ${id} confirmed`))
    t.match(received!.raw, /From: Shop <shop@example\.test>/)
    t.match(received!.raw, /Lamp @ 12\.50 USD/)
    t.match(received!.raw, /Total: 25\.00 USD/)
    t.match(sent.providerMessageId, /^<.+>$/)
  })

  t.test('a transient 4xx is retried and then delivered', async (t) => {
    const sent = await settled(mailer, await queue(mailer, { to: 'retry@example.test', template: 'welcome', data: {} }))
    t.equal(sent.status, 'sent')
    t.equal(sent.attempts, 2, 'one failure, one success')
    t.equal(smtp.receivedBy('retry@example.test').length, 1)
  })

  t.test('a permanent 5xx fails the email at once, without retry', async (t) => {
    const id = await queue(mailer, { to: 'nobody@example.test', template: 'welcome', data: {} })
    const failed = await settled(mailer, id)
    t.equal(failed.status, 'failed')
    t.equal(failed.attempts, 1)
    t.match(failed.lastError, /550/)
    // The job fails too (right after the row is marked), without a retry.
    await waitFor(
      async () => {
        const [job] = await mailer.sql<
          { state: string }[]
        >`select state::text from pgboss_v12.job where name = 'send-email' and data->>'emailId' = ${id}`
        return job?.state === 'failed'
      },
      { what: 'the send-email job to fail' },
    )
    t.equal(smtp.attemptsFor('nobody@example.test'), 1, 'the server saw one attempt')
  })

  t.test('an email that keeps failing transiently is marked failed after EMAIL_MAX_ATTEMPTS', async (t) => {
    const id = await queue(mailer, { to: 'flaky@example.test', template: 'welcome', data: {} })
    const failed = await settled(mailer, id)
    t.equal(failed.status, 'failed')
    t.equal(failed.attempts, 2)
    t.equal(smtp.attemptsFor('flaky@example.test'), 2)
    // The dead-letter queue got it too (and agreed).
    await waitFor(
      async () => {
        const [job] = await mailer.sql<
          { state: string }[]
        >`select state::text from pgboss_v12.job where name = 'send-email-dead' and data->>'emailId' = ${id}`
        return job?.state === 'completed'
      },
      { what: 'the dead-letter job' },
    )
  })
})
