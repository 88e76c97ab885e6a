// Users: the business rules (who sees and changes which account, optimistic concurrency, the last
// admin, credentials, cached list totals, events) and the cached auth state (role, status, token
// version) checked on every request. No HTTP here: the routes read If-Match into `versions`.
import { Value } from '@sinclair/typebox/value'
import type { Cache } from '../../plugins/cache.js'
import type { Events } from '../../plugins/events.js'
import type { Jobs } from '../../plugins/queue/index.js'
import type { LoginFailures } from '../../plugins/rate-limit/index.js'
import { can, type Principal } from '../../src/lib/permissions.js'
import type { Db, DbOrTx } from '../../src/db/client.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import { ForbiddenError, ValidationError, withDetails } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import type { EmailsContract } from '../emails/contract.js'
import type { EmailTokens } from './email-tokens.js'
import { hashEmailToken } from './email-tokens.js'
import {
  EmailAlreadyVerifiedError,
  EmailNotVerifiedError,
  EmailTakenError,
  InvalidTokenError,
  LastAdminError,
  StaleUserError,
  UserNotFoundError,
} from './errors.js'
import type { AuditEntry, AuditWriter } from '../audit-events/contract.js'
import { userDeleted, userRegistered, type UserEvent } from './events.js'
import { generatePassword, hashPassword, passwordProblem, verifyPassword } from './passwords.js'
import type { EmailTokenPurpose, NewUserRow, UserRow, UserRepository, UserValues } from './repository.js'
import {
  EmailSchema,
  type Accepted,
  type ChangeEmailInput,
  type UpdateUserInput,
  type User,
  type UserFilters,
  type UserListItem,
} from './schemas.js'

export const USER_COUNT_NAMESPACE = 'users'
/** The queue that sends a password-reset link (the request only queues it: its answer cannot tell whether the account exists). */
export const PASSWORD_RESET_QUEUE = 'users.send-password-reset'

/** What an account whose email is not verified may be refused (REQUIRE_VERIFIED_EMAIL_FOR). */
export type VerifiedOnly = 'api-keys' | 'webhooks'
const authStateKey = (id: string) => `users:auth-state:${id}`

export interface UserServiceDeps {
  db: Db
  /** Lists read here (a replica when configured). */
  dbRead: Db
  cache: Cache
  events: Events
  repo: UserRepository
  /** A current-password check counts against the same failed-login budgets as a login. */
  loginFailures: LoginFailures
  /** How long a user's auth state may be served from the cache (invalidated on every change anyway). */
  authStateTtlSeconds: number
  /** The outbox: emails with a link are queued in the transaction that creates their token. */
  emails: Pick<EmailsContract, 'queue'>
  jobs: Pick<Jobs, 'send'>
  tokens: EmailTokens
  /** Where the links in emails point: PUBLIC_URL (your front end), which posts the token to the API. */
  publicUrl: string
  verifyTtlHours: number
  resetTtlMinutes: number
  /** What an account whose email is not verified may not do. */
  requireVerifiedFor: ReadonlySet<VerifiedOnly>
  now: () => number
  audit: AuditWriter
}

export interface AuthState {
  id: string
  role: UserRow['role']
  status: UserRow['status']
  tokenVersion: number
}

export interface NewUser {
  email: string
  password: string
  /** Default: the email's local part. */
  name?: string
  role?: UserRow['role']
}

/** A row as the API shows it (dates as ISO strings); partial rows (fields=) stay partial. */
export function toUser(row: UserRow): User
export function toUser(row: Partial<UserRow>): Partial<User>
export function toUser(row: Partial<UserRow>): Partial<User> {
  const out: Record<string, unknown> = { ...row }
  if (row.createdAt) out.createdAt = row.createdAt.toISOString()
  if (row.updatedAt) out.updatedAt = row.updatedAt.toISOString()
  return out as Partial<User>
}

const eventOf = (row: UserRow): UserEvent => ({ userId: row.id, email: row.email, name: row.name, role: row.role, status: row.status })

const normalizeEmail = (email: string) => email.trim().toLowerCase()

const invalidField = (field: string, message: string, summary = message) => withDetails(new ValidationError(summary), [{ field, message }])
const weakPassword = (field: string, why: string) => invalidField(field, why, `Password ${why}`)

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } }
  return e.code === '23505' || e.cause?.code === '23505'
}

/** The audit events of a change to an account: credentials, role and status; anything else when done to someone else. */
function auditEntriesOf(actor: Principal, current: UserRow, values: UserValues): AuditEntry[] {
  const subject = { type: 'user' as const, id: current.id }
  const entries: AuditEntry[] = []
  if (values.email !== undefined && values.email !== current.email) entries.push({ action: 'user.email.changed', subject })
  if (values.passwordHash !== undefined) entries.push({ action: 'user.password.changed', subject })
  if (values.role !== undefined && values.role !== current.role)
    entries.push({ action: 'user.role.changed', subject, details: { from: current.role, to: values.role } })
  if (values.status !== undefined && values.status !== current.status)
    entries.push({ action: 'user.status.changed', subject, details: { from: current.status, to: values.status } })
  if (values.name !== undefined && values.name !== current.name && actor.id !== current.id)
    entries.push({ action: 'user.updated', subject, details: { fields: ['name'] } })
  return entries
}

const linkPaths: Record<EmailTokenPurpose, string> = {
  'verify-email': 'verify-email',
  'reset-password': 'reset-password',
  'change-email': 'confirm-email',
}

export function createUserService({
  db,
  dbRead,
  cache,
  events,
  repo,
  loginFailures,
  authStateTtlSeconds,
  emails,
  jobs,
  tokens,
  publicUrl,
  verifyTtlHours,
  resetTtlMinutes,
  requireVerifiedFor,
  now,
  audit,
}: UserServiceDeps) {
  /** Admins see everyone; anyone else only themselves (others answer 404, not 403: no existence probe). */
  const visible = (actor: Principal, id: string) => actor.id === id || can(actor, 'admin')

  async function load(actor: Principal, id: string): Promise<UserRow> {
    const row = visible(actor, id) ? await repo.findById(db, id) : undefined
    if (!row) throw new UserNotFoundError()
    return row
  }

  /** After a change has committed: drop the cached auth state and every cached list total. */
  async function invalidate(id: string) {
    await Promise.all([cache.del(authStateKey(id)), cache.invalidateCounts(USER_COUNT_NAMESPACE)])
  }

  /** A new account's row: email normalised, password policy enforced, the password hashed. */
  async function newRow(input: NewUser): Promise<NewUserRow> {
    const email = normalizeEmail(input.email)
    const problem = passwordProblem(input.password, email)
    if (problem) throw weakPassword('password', problem)
    const name = input.name?.trim() || email.split('@')[0] || email
    return {
      id: newId(),
      email,
      name,
      passwordHash: await hashPassword(input.password),
      role: input.role ?? 'user',
      status: 'active',
      emailVerified: true,
    }
  }

  /** Email uniqueness is the index's job: its violation is EMAIL_TAKEN. */
  async function taken<T>(write: Promise<T>): Promise<T> {
    try {
      return await write
    } catch (error) {
      if (isUniqueViolation(error)) throw new EmailTakenError()
      throw error
    }
  }

  /** Inside the change's transaction: refuse to leave no active admin (the admins' rows stay locked until it ends). */
  async function keepAnAdmin(tx: DbOrTx, id: string) {
    const admins = await repo.lockActiveAdmins(tx)
    if (admins.length === 1 && admins[0] === id) throw new LastAdminError()
  }

  /**
   * In the caller's transaction: a new single-use token for an emailed link (older ones of the same
   * purpose are voided), and its email — the outbox holds a placeholder, never the token.
   */
  async function sendLink(tx: DbOrTx, user: Pick<UserRow, 'id' | 'email' | 'name'>, purpose: EmailTokenPurpose, newEmail?: string) {
    const at = now()
    await repo.voidEmailTokens(tx, user.id, new Date(at), [purpose])
    const { id, tokenHash, placeholder } = tokens.mint()
    const validMs = purpose === 'reset-password' ? resetTtlMinutes * 60_000 : verifyTtlHours * 3_600_000
    await repo.insertEmailToken(tx, {
      id,
      userId: user.id,
      purpose,
      tokenHash,
      newEmail: newEmail ?? null,
      expiresAt: new Date(at + validMs),
    })
    const link = `${publicUrl}/${linkPaths[purpose]}?token=${placeholder}`
    const name = user.name
    if (purpose === 'verify-email')
      await emails.queue({ to: user.email, template: 'verify-email', data: { name, link, validHours: verifyTtlHours } }, { tx })
    else if (purpose === 'reset-password')
      await emails.queue({ to: user.email, template: 'reset-password', data: { name, link, validMinutes: resetTtlMinutes } }, { tx })
    else
      await emails.queue(
        { to: newEmail!, template: 'confirm-email-change', data: { name, link, newEmail: newEmail!, validHours: verifyTtlHours } },
        { tx },
      )
  }

  /** Spend a token of this purpose (400 INVALID_TOKEN when unknown, expired, used or voided): its user and new address. */
  async function useToken(tx: DbOrTx, token: string, purpose: EmailTokenPurpose) {
    const row = await repo.useEmailToken(tx, hashEmailToken(token), purpose, new Date(now()))
    if (!row) throw new InvalidTokenError()
    return row
  }

  /** A current-password check, throttled like a login: a wrong one counts as a failed login (per account and per client). */
  async function checkCurrentPassword(user: UserRow, currentPassword: string | undefined, client: string, why = 'to change your password') {
    if (currentPassword === undefined) throw weakPassword('currentPassword', `currentPassword is required ${why}`)
    const attempt = await loginFailures.begin({ account: user.email, ip: client })
    const hash = await repo.findPasswordHash(db, user.id)
    if (!hash || !(await verifyPassword(hash, currentPassword)))
      throw invalidField('currentPassword', 'is incorrect', 'The current password is incorrect')
    await attempt.succeeded()
  }

  async function create(input: NewUser): Promise<User> {
    const row = await taken(repo.insert(db, await newRow(input)))
    await cache.invalidateCounts(USER_COUNT_NAMESPACE)
    return toUser(row)
  }

  return {
    /** Create an account (password policy enforced; EMAIL_TAKEN when the email is in use). No event: seeds, scripts, tests. */
    create,

    /** Sign-up: a `user` account, and `user.registered` in the same transaction. */
    async register(input: Omit<NewUser, 'role'>): Promise<User> {
      const values = { ...(await newRow({ ...input, role: 'user' })), emailVerified: false }
      const row = await db.transaction(async (tx) => {
        const created = await taken(repo.insert(tx, values))
        await events.publish(userRegistered, eventOf(created), { tx })
        await sendLink(tx, created, 'verify-email')
        await audit.record(tx, { action: 'user.registered', actor: null, subject: { type: 'user', id: created.id } })
        return created
      })
      await cache.invalidateCounts(USER_COUNT_NAMESPACE)
      return toUser(row)
    },

    async list(filters: UserFilters, list: ParsedList): Promise<{ items: UserListItem[]; meta: PageMeta }> {
      // The page and its total at once. A keyset page has no total: counting is what cursor pagination exists to avoid.
      const [rows, total] = await Promise.all([
        repo.list(dbRead, filters, list),
        list.cursor ? undefined : cache.count(USER_COUNT_NAMESPACE, filters, () => repo.count(dbRead, filters)),
      ])
      return toPage(rows, list, (row) => toUser(row) as UserListItem, total)
    },

    async get(actor: Principal, id: string): Promise<User> {
      return toUser(await load(actor, id))
    },

    async findById(id: string): Promise<User | undefined> {
      const row = await repo.findById(db, id)
      return row && toUser(row)
    },

    /**
     * PATCH: only the fields sent. Role and status are for admins; a new password needs a bearer
     * session, and your own the current one (the email changes through requestEmailChange). With If-Match (`versions`), only
     * the version the caller saw is changed (412 otherwise). A new password or disabling ends every
     * session of the user; the last active admin is neither demoted nor disabled (409 LAST_ADMIN).
     */
    async update(actor: Principal, id: string, input: UpdateUserInput, versions: number[] | undefined, client: string): Promise<User> {
      const current = await load(actor, id)
      if ((input.role !== undefined || input.status !== undefined) && !can(actor, 'admin'))
        throw new ForbiddenError('Only admins can change a role or a status')
      if (input.password !== undefined && actor.apiKeyId)
        throw new ForbiddenError('Changing a password needs a bearer session (log in); an API key cannot do it')
      if (versions && !versions.includes(current.version)) throw new StaleUserError()

      const values: UserValues = {}
      if (input.name !== undefined) values.name = input.name.trim()
      if (input.role !== undefined) values.role = input.role
      if (input.status !== undefined) values.status = input.status
      if (input.password !== undefined) {
        // Your own password needs the current one; an admin resetting someone else's does not.
        if (actor.id === id) await checkCurrentPassword(current, input.currentPassword, client)
        const problem = passwordProblem(input.password, current.email)
        if (problem) throw weakPassword('password', problem)
        values.passwordHash = await hashPassword(input.password)
      }

      const signOut = values.passwordHash !== undefined || (values.status === 'disabled' && current.status !== 'disabled')
      const mayDropAnAdmin = (values.role !== undefined && values.role !== 'admin') || values.status === 'disabled'
      const row = await db.transaction(async (tx) => {
        if (mayDropAnAdmin) await keepAnAdmin(tx, id)
        const updated = await repo.update(tx, id, values, { versions, signOut })
        if (!updated) throw versions ? new StaleUserError() : new UserNotFoundError()
        // A new password voids the links that could set another one (or move the account elsewhere).
        if (values.passwordHash) await repo.voidEmailTokens(tx, id, new Date(now()), ['reset-password', 'change-email'])
        for (const entry of auditEntriesOf(actor, current, values)) await audit.record(tx, entry)
        return updated
      })
      await invalidate(id)
      return toUser(row)
    },

    /**
     * Ask to move your account to another address (yours only, from a bearer session, with your
     * current password). Nothing changes yet: the new address gets a confirmation link, the old one
     * a notice. When the new address already has an account it gets a notice instead of a link (the
     * move can never complete), and the caller's answer is the same either way.
     */
    async requestEmailChange(actor: Principal, id: string, input: ChangeEmailInput, client: string): Promise<Accepted> {
      const current = await load(actor, id)
      if (actor.id !== id) throw new ForbiddenError('Each user changes their own email (the new address must confirm it)')
      if (actor.apiKeyId) throw new ForbiddenError('Changing an email needs a bearer session (log in); an API key cannot do it')
      await checkCurrentPassword(current, input.currentPassword, client, 'to change your email')
      const newEmail = normalizeEmail(input.email)
      if (newEmail === current.email) throw invalidField('email', 'is already your email address', 'This is already your email address')
      const holder = await repo.findByEmail(db, newEmail)
      await db.transaction(async (tx) => {
        if (holder) await emails.queue({ to: newEmail, template: 'email-change-refused', data: {} }, { tx })
        else await sendLink(tx, current, 'change-email', newEmail)
        await emails.queue({ to: current.email, template: 'email-change-requested', data: { name: current.name, newEmail } }, { tx })
        await audit.record(tx, { action: 'user.email.change_requested', subject: { type: 'user', id } })
      })
      return { message: `A confirmation link is on its way to ${newEmail}; your email changes when it is opened` }
    },

    /**
     * The new address confirmed: the account moves to it (verified), every outstanding link of the
     * account is voided and every session ends (the token version moves on). 400 INVALID_TOKEN when
     * the token does not stand, or the address was taken meanwhile.
     */
    async confirmEmailChange(token: string): Promise<User> {
      const row = await db.transaction(async (tx) => {
        const { userId, newEmail } = await useToken(tx, token, 'change-email')
        let updated: UserRow | undefined
        try {
          updated = await repo.update(tx, userId, { email: newEmail!, emailVerified: true }, { signOut: true })
        } catch (error) {
          if (isUniqueViolation(error))
            throw new InvalidTokenError('This address now belongs to another account: the email cannot change to it')
          throw error
        }
        if (!updated) throw new InvalidTokenError()
        await repo.voidEmailTokens(tx, userId, new Date(now()))
        // Opened from an emailed link: no session stands behind it, the account is the one moved.
        await audit.record(tx, { action: 'user.email.changed', actor: null, subject: { type: 'user', id: userId } })
        return updated
      })
      await invalidate(row.id)
      return toUser(row)
    },

    /** The sign-up link was opened: the address is verified. */
    async verifyEmail(token: string): Promise<User> {
      const row = await db.transaction(async (tx) => {
        const { userId } = await useToken(tx, token, 'verify-email')
        const updated = await repo.update(tx, userId, { emailVerified: true })
        if (!updated) throw new InvalidTokenError()
        await audit.record(tx, { action: 'user.email.verified', actor: null, subject: { type: 'user', id: userId } })
        return updated
      })
      await invalidate(row.id)
      return toUser(row)
    },

    /** A new verification link for the caller (the previous one stops working); 409 when already verified. */
    async resendVerification(actor: Principal): Promise<Accepted> {
      const user = await repo.findById(db, actor.id)
      if (!user) throw new UserNotFoundError()
      if (user.emailVerified) throw new EmailAlreadyVerifiedError()
      await db.transaction((tx) => sendLink(tx, user, 'verify-email'))
      return { message: `A new confirmation link is on its way to ${user.email}` }
    },

    /**
     * Forgotten password: only queues the work (PASSWORD_RESET_QUEUE), the same single insert
     * whether or not the address has an account, so neither the answer nor its time tells.
     */
    async requestPasswordReset(email: string): Promise<void> {
      await jobs.send(PASSWORD_RESET_QUEUE, { email: normalizeEmail(email) })
    },

    /** The queued work: a reset link to an active account at that address; nothing for anyone else. */
    async sendPasswordReset(email: string): Promise<{ sent: boolean }> {
      const user = await repo.findByEmail(db, normalizeEmail(email))
      if (!user || user.status !== 'active') return { sent: false }
      await db.transaction((tx) => sendLink(tx, user, 'reset-password'))
      return { sent: true }
    },

    /**
     * A reset link was opened with a new password (the registration rules): it is set, the address
     * counts as verified (the link reached it), every link of the account is voided and every
     * session ends (the token version moves on). The user's id, to end its sessions.
     */
    async resetPassword(token: string, password: string): Promise<{ userId: string }> {
      const userId = await db.transaction(async (tx) => {
        const { userId } = await useToken(tx, token, 'reset-password')
        const user = await repo.findById(tx, userId)
        if (!user || user.status !== 'active') throw new InvalidTokenError()
        const problem = passwordProblem(password, user.email)
        if (problem) throw weakPassword('password', problem)
        const values = { passwordHash: await hashPassword(password), emailVerified: true }
        if (!(await repo.update(tx, userId, values, { signOut: true }))) throw new InvalidTokenError()
        await repo.voidEmailTokens(tx, userId, new Date(now()))
        await audit.record(tx, { action: 'user.password.reset', actor: null, subject: { type: 'user', id: userId } })
        return userId
      })
      await invalidate(userId)
      return { userId }
    },

    /**
     * Before creating what outlives a session (an API key, a webhook): the account's owner is present
     * (`currentPassword`, throttled like a login), and its email is verified when
     * REQUIRE_VERIFIED_EMAIL_FOR names the action (403 EMAIL_NOT_VERIFIED).
     */
    async confirmPresence(actor: Principal, currentPassword: string | undefined, client: string, action: VerifiedOnly): Promise<void> {
      const user = await repo.findById(db, actor.id)
      if (!user) throw new UserNotFoundError()
      await checkCurrentPassword(user, currentPassword, client, `to create ${action === 'api-keys' ? 'an API key' : 'a webhook'}`)
      if (requireVerifiedFor.has(action) && !user.emailVerified) throw new EmailNotVerifiedError()
    },

    /** Delete an account (yourself, or anyone for admins), and `user.deleted` in the same transaction. */
    async remove(actor: Principal, id: string): Promise<void> {
      await load(actor, id)
      await db.transaction(async (tx) => {
        await keepAnAdmin(tx, id)
        if (!(await repo.delete(tx, id))) throw new UserNotFoundError()
        await events.publish(userDeleted, { userId: id }, { tx })
        await audit.record(tx, { action: 'user.deleted', subject: { type: 'user', id } })
      })
      await invalidate(id)
    },

    /** Role, status and token version, cached; every change above drops the cached copy. */
    async getAuthState(id: string): Promise<AuthState | undefined> {
      const state = await cache.wrap(authStateKey(id), authStateTtlSeconds, async () => (await repo.findAuthState(db, id)) ?? null)
      return state ?? undefined
    },

    /** End every session of the user at once: live access and refresh tokens carry the old token version. */
    async bumpTokenVersion(id: string): Promise<number | undefined> {
      const version = await repo.bumpTokenVersion(db, id)
      await cache.del(authStateKey(id))
      return version
    },

    findCredentials: (email: string) => repo.findCredentials(db, normalizeEmail(email)),
    count: () => repo.count(db),

    /**
     * The first admin, on any database (`npm run create-admin`): creates the account, or promotes
     * (and re-enables) an existing one. A given password becomes the account's (an existing account
     * is then signed out everywhere); a new account without one gets a generated password, returned once.
     */
    async ensureAdmin(email: string, password?: string): Promise<{ user: User; created: boolean; generatedPassword?: string }> {
      const address = normalizeEmail(email)
      if (!Value.Check(EmailSchema, address)) throw invalidField('email', 'is not an email address', `Not an email address: ${address}`)
      const existing = await repo.findByEmail(db, address)
      if (!existing) {
        const generatedPassword = password === undefined ? generatePassword() : undefined
        const user = await create({ email: address, password: password ?? generatedPassword!, role: 'admin' })
        return { user, created: true, generatedPassword }
      }
      const values: UserValues = { role: 'admin', status: 'active' }
      if (password !== undefined) {
        const problem = passwordProblem(password, address)
        if (problem) throw weakPassword('password', problem)
        values.passwordHash = await hashPassword(password)
      }
      const row = await repo.update(db, existing.id, values, { signOut: password !== undefined })
      if (!row) throw new UserNotFoundError()
      await invalidate(row.id)
      return { user: toUser(row), created: false }
    },
  }
}

export type UserService = ReturnType<typeof createUserService>
