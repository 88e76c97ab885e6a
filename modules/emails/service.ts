// Emails: the outbox (render, then the row and its send-email job in one transaction; once per event
// for subscribers), the sender (one attempt of a job, transient or permanent failure) and the admin
// listing with its cached total. No HTTP here.
import { Value } from '@sinclair/typebox/value'
import type { Db, DbOrTx } from '../../src/db/client.js'
import type { Cache } from '../../plugins/cache.js'
import { PermanentJobError, type Jobs } from '../../plugins/queue/index.js'
import { ValidationError, withDetails } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import type { EmailRepository, EmailRow } from './repository.js'
import type { Email, EmailFilters } from './schemas.js'
import { templates, withoutControlCharacters, type TemplateData, type TemplateName } from './templates.js'
import { isPermanentSmtpError, type EmailTransport } from './transport.js'

export const SEND_EMAIL_QUEUE = 'send-email'
export const SEND_EMAIL_DEAD_QUEUE = 'send-email-dead'
const EMAIL_COUNT_NAMESPACE = 'emails'

/**
 * An email to queue: its recipient, template and the template's data; `eventId` for an email a
 * business event causes (its envelope id), so a retried subscriber queues it only once.
 */
export type QueueEmailInput = {
  [K in TemplateName]: { to: string; template: K; data: TemplateData[K]; eventId?: string }
}[TemplateName]

export interface EmailOutboxDeps {
  db: Db
  cache: Pick<Cache, 'invalidateCounts'>
  jobs: Pick<Jobs, 'send'>
  repo: EmailRepository
}

export function createEmailOutbox({ db, cache, jobs, repo }: EmailOutboxDeps) {
  return {
    /**
     * Render the template (its data stripped of control characters, then checked: 400 when it does
     * not fit), write the outbox row and its send-email job in one transaction. Undefined when the
     * event already has its email of this template: nothing more is queued. With `tx`, in the
     * caller's transaction (the email leaves only if the change that asked for it commits).
     */
    async queue(input: QueueEmailInput, { tx }: { tx?: DbOrTx } = {}): Promise<{ id: string } | undefined> {
      const template = templates[input.template]
      const data = withoutControlCharacters(input.data)
      if (!Value.Check(template.schema, data)) {
        const errors = [...Value.Errors(template.schema, data)].map((e) => ({
          field: `data${e.path.replace(/\//g, '.')}`,
          message: e.message,
        }))
        throw withDetails(new ValidationError(`Invalid data for email template '${input.template}'`), errors)
      }
      const { subject, text } = (template.render as (d: unknown) => { subject: string; text: string })(data)
      const id = newId()
      const write = async (tx: DbOrTx) => {
        if (!(await repo.insert(tx, { id, to: input.to, template: input.template, subject, text, eventId: input.eventId ?? null })))
          return false
        await jobs.send(SEND_EMAIL_QUEUE, { emailId: id }, { tx })
        return true
      }
      const queued = tx ? await write(tx) : await db.transaction(write)
      if (!queued) return undefined
      await cache.invalidateCounts(EMAIL_COUNT_NAMESPACE)
      return { id }
    },
  }
}

export type EmailOutbox = ReturnType<typeof createEmailOutbox>

export interface EmailSenderDeps {
  db: Db
  cache: Pick<Cache, 'invalidateCounts'>
  repo: EmailRepository
  transport: EmailTransport
  from: string
  /**
   * The text as it leaves: the placeholders of emailed tokens (stored in the outbox instead of the
   * tokens, see users' email-tokens.ts) replaced by the tokens. Identity by default.
   */
  reveal?: (text: string) => string
}

export interface AttemptContext {
  isFinalAttempt: boolean
  log: { info: (obj: object, msg: string) => void }
}

/** What the send-email worker runs (no HTTP; ROLE=worker builds only this). */
export function createEmailSender({ db, cache, repo, transport, from, reveal = (text) => text }: EmailSenderDeps) {
  return {
    /**
     * One delivery attempt. Already sent or failed: nothing to do. A permanent SMTP error (5xx)
     * marks the row failed and fails the job without retry; anything else is retried by the queue.
     * Every outcome changes a status the admin list counts by, so its cached totals are dropped.
     */
    async send(emailId: string, ctx: AttemptContext): Promise<{ status: 'sent' | 'skipped' }> {
      const email = await repo.get(db, emailId)
      if (!email || email.status !== 'queued') return { status: 'skipped' }
      try {
        const { messageId } = await transport.send({ from, to: email.to, subject: email.subject, text: reveal(email.text) })
        await repo.markSent(db, emailId, messageId)
        ctx.log.info({ emailId, template: email.template, transport: transport.kind }, 'email sent')
        return { status: 'sent' }
      } catch (err) {
        const message = (err as Error).message ?? String(err)
        const permanent = isPermanentSmtpError(err)
        await repo.recordFailure(db, emailId, message, permanent || ctx.isFinalAttempt)
        if (permanent) throw new PermanentJobError(`permanent SMTP failure: ${message}`)
        throw err
      } finally {
        await cache.invalidateCounts(EMAIL_COUNT_NAMESPACE)
      }
    },

    /** The dead-letter queue's handler: the job is out of retries (or expired). */
    async giveUp(emailId: string): Promise<void> {
      await repo.markFailedIfQueued(db, emailId, 'out of retries')
      await cache.invalidateCounts(EMAIL_COUNT_NAMESPACE)
    },
  }
}

export type EmailSender = ReturnType<typeof createEmailSender>

const toEmail = (row: EmailRow): Email => ({
  ...row,
  template: row.template as Email['template'],
  createdAt: row.createdAt.toISOString(),
  sentAt: row.sentAt ? row.sentAt.toISOString() : null,
})

/** The admin view of the outbox; totals come from the count cache (never a count per request). */
export function createEmailService({ dbRead, cache, repo }: { dbRead: Db; cache: Pick<Cache, 'count'>; repo: EmailRepository }) {
  return {
    async list(filters: EmailFilters, list: ParsedList): Promise<{ items: Email[]; meta: PageMeta }> {
      const [rows, total] = await Promise.all([
        repo.list(dbRead, filters, list),
        cache.count(EMAIL_COUNT_NAMESPACE, filters, () => repo.count(dbRead, filters)),
      ])
      return toPage(rows, list, toEmail, total)
    },
  }
}

export type EmailService = ReturnType<typeof createEmailService>
