// Audit events: the writer every module calls inside its change's transaction, and the listing
// (admins see everything; anyone else the events about their own account). No HTTP here: who is
// calling (the request's id, client address and caller) comes from the request context.
import type { RequestOrigin } from '../../plugins/request-context.js'
import type { Db, DbOrTx } from '../../src/db/client.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import { newId } from '../../src/lib/ids.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import { can, type Principal } from '../../src/lib/permissions.js'
import type { AuditAction, AuditDetails, AuditSubjectType } from './actions.js'
import { InvalidTimeRangeError } from './errors.js'
import type { AuditEventRepository, AuditEventRow } from './repository.js'
import type { AuditEvent, AuditEventFilters } from './schemas.js'

/** One audit event, as a module records it: `await app.audit.record(tx, { action, subject, details })`. */
export interface AuditEntry {
  action: AuditAction
  subject?: { type: AuditSubjectType; id: string }
  /** Default: the caller of the request being handled (none outside a request). `null`: anonymous. */
  actor?: { userId: string; apiKeyId?: string | null } | null
  /** The account the event concerns (its owner sees the event). Default: the subject when it is a user, else the actor. */
  account?: string | null
  /** What changed; keys naming secrets (password, secret, token, key) are dropped. */
  details?: AuditDetails
}

export interface AuditEventServiceDeps {
  db: Db
  /** Lists read here (a replica when configured). */
  dbRead: Db
  repo: AuditEventRepository
  /** The request being handled, if any (plugins/request-context.ts). */
  origin: () => RequestOrigin | undefined
  retentionDays: number
}

const SECRET_KEY = /password|secret|token$|^key$|hash$/i

/** Details without anything whose name says it is a secret: the trail is read by people who must not see one. */
export function withoutSecrets(details: AuditDetails = {}): AuditDetails {
  return Object.fromEntries(Object.entries(details).filter(([key]) => !SECRET_KEY.test(key)))
}

export const toAuditEvent = (row: AuditEventRow): AuditEvent => ({
  ...row,
  occurredAt: row.occurredAt.toISOString(),
  action: row.action as AuditEvent['action'],
  subjectType: row.subjectType as AuditEvent['subjectType'],
})

export function createAuditEventService({ db, dbRead, repo, origin, retentionDays }: AuditEventServiceDeps) {
  return {
    /**
     * Record an event in the change's own transaction (`db` is its `tx`), so a change that rolls back
     * leaves no event; a change without a transaction (a failed login) passes the pool.
     */
    async record(handle: DbOrTx, { action, subject, actor, account, details }: AuditEntry): Promise<void> {
      const request = origin()
      const who = actor === undefined ? (request?.userId ? { userId: request.userId, apiKeyId: request.apiKeyId } : null) : actor
      await repo.insert(handle, {
        id: newId(),
        actorUserId: who?.userId ?? null,
        actorApiKeyId: who?.apiKeyId ?? null,
        action,
        subjectType: subject?.type ?? null,
        subjectId: subject?.id ?? null,
        accountId: account !== undefined ? account : subject?.type === 'user' ? subject.id : (who?.userId ?? null),
        clientAddress: request?.clientAddress ?? null,
        requestId: request?.requestId ?? null,
        details: withoutSecrets(details),
      })
    },

    /** Newest first, in keyset pages. Admins see every event; anyone else only those about their own account. */
    async list(actor: Principal, filters: AuditEventFilters, list: ParsedList): Promise<{ items: AuditEvent[]; meta: PageMeta }> {
      if (filters.from && filters.to && new Date(filters.from) >= new Date(filters.to)) throw new InvalidTimeRangeError()
      const scope = can(actor, 'admin') ? {} : { scopeAccountId: actor.id }
      const rows = await repo.list(dbRead, { ...filters, ...scope }, list)
      return toPage(rows, list, toAuditEvent)
    },

    /** The retention job: forget events older than AUDIT_RETENTION_DAYS; how many. */
    purge: () => repo.purgeOlderThan(db, retentionDays),
  }
}

export type AuditEventService = ReturnType<typeof createAuditEventService>
