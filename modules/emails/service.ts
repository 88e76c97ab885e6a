// Emails: queue (outbox row + job, in the caller's transaction when given), send (one attempt of a
// job, with transient/permanent classification), and the admin listing.
import { Value } from '@sinclair/typebox/value'
import type { Db, DbOrTx } from '../../src/db/client.js'
import { newId } from '../../src/lib/ids.js'
import { pageMeta, type ParsedList } from '../../src/lib/pagination.js'
import { ValidationError, withDetails } from '../../src/lib/errors.js'
import type { Jobs, QueueTx } from '../../plugins/queue/index.js'
import { drizzleOf, PermanentJobError } from '../../plugins/queue/index.js'
import type { EmailRepository, EmailRow } from './repository.js'
import type { EmailFilterValues, Email } from './schemas.js'
import { templates, type TemplateData, type TemplateName } from './templates.js'
import { isPermanentSmtpError, type EmailTransport } from './transport.js'
import { UnknownTemplateError } from './errors.js'

export const SEND_EMAIL_QUEUE = 'send-email'
export const SEND_EMAIL_DEAD_QUEUE = 'send-email-dead'

export type QueueEmailInput = { [K in TemplateName]: { to: string; template: K; data: TemplateData[K] } }[TemplateName]

export interface EmailQueueDeps {
  db: Db
  jobs: Pick<Jobs, 'send'>
}

/** Render the template, write the outbox row and enqueue its job — both in `tx` when given. */
export async function queueEmail(
  deps: EmailQueueDeps & { repo: EmailRepository },
  input: QueueEmailInput,
  tx?: QueueTx,
): Promise<{ id: string }> {
  const template = templates[input.template]
  if (!template) throw new UnknownTemplateError(`Unknown email template '${String(input.template)}'`)
  if (!Value.Check(template.schema, input.data)) {
    const errors = [...Value.Errors(template.schema, input.data)].map((e) => ({
      field: `data${e.path.replace(/\//g, '.')}`,
      message: e.message,
    }))
    throw withDetails(new ValidationError(`Invalid data for email template '${input.template}'`), errors)
  }
  const { subject, text } = (template.render as (d: unknown) => { subject: string; text: string })(input.data)
  const id = newId()
  const enqueue = async (db: DbOrTx, jobTx?: QueueTx) => {
    await deps.repo.insert(db, { id, to: input.to, template: input.template, subject, text })
    await deps.jobs.send(SEND_EMAIL_QUEUE, { emailId: id }, jobTx ? { tx: jobTx } : {})
  }
  if (tx) await enqueue(drizzleOf(tx), tx)
  else await deps.db.transaction((own) => enqueue(own, own))
  return { id }
}

export interface EmailSenderDeps {
  db: Db
  repo: EmailRepository
  transport: EmailTransport
  from: string
}

export interface AttemptContext {
  isFinalAttempt: boolean
  log: { info: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void }
}

/** What the send-email worker runs (no HTTP; ROLE=worker builds only this). */
export function createEmailSender({ db, repo, transport, from }: EmailSenderDeps) {
  return {
    /**
     * One delivery attempt. Already sent or failed: nothing to do. A permanent SMTP error (5xx)
     * marks the row failed and fails the job without retry; anything else is retried by the queue.
     */
    async send(emailId: string, ctx: AttemptContext): Promise<{ status: 'sent' | 'skipped' }> {
      const email = await repo.get(db, emailId)
      if (!email || email.status !== 'queued') return { status: 'skipped' }
      try {
        const { messageId } = await transport.send({ from, to: email.to, subject: email.subject, text: email.text })
        await repo.markSent(db, emailId, messageId)
        ctx.log.info({ event: 'email.sent', emailId, template: email.template, transport: transport.kind }, 'email sent')
        return { status: 'sent' }
      } catch (err) {
        const message = (err as Error).message ?? String(err)
        const permanent = isPermanentSmtpError(err)
        await repo.recordFailure(db, emailId, message, permanent || ctx.isFinalAttempt)
        if (permanent) throw new PermanentJobError(`permanent SMTP failure: ${message}`)
        throw err
      }
    },

    /** The dead-letter queue's handler: the job is out of retries (or expired). */
    async giveUp(emailId: string): Promise<void> {
      await repo.markFailedIfQueued(db, emailId, 'out of retries')
    },
  }
}

export type EmailSender = ReturnType<typeof createEmailSender>

const toApi = (row: EmailRow): Email => ({
  ...row,
  createdAt: row.createdAt.toISOString(),
  sentAt: row.sentAt ? row.sentAt.toISOString() : null,
})

/** The admin view of the outbox. */
export function createEmailService({ dbRead, repo }: { dbRead: Db; repo: EmailRepository }) {
  return {
    async list(filters: EmailFilterValues, list: ParsedList) {
      const { items, total } = await repo.list(dbRead, filters, list)
      return { items: items.map(toApi), meta: pageMeta(list, total) }
    },
  }
}

export type EmailService = ReturnType<typeof createEmailService>
