// Users: the business rules (who sees and changes which account, optimistic concurrency, the last
// admin, credentials, cached list totals, events) and the cached auth state (role, status, token
// version) checked on every request. No HTTP here: the routes read If-Match into `versions`.
import { Value } from '@sinclair/typebox/value'
import type { Cache } from '../../plugins/cache.js'
import type { Events } from '../../plugins/events.js'
import type { LoginFailures } from '../../plugins/rate-limit/index.js'
import { can, type Principal } from '../../src/lib/permissions.js'
import type { Db, DbOrTx } from '../../src/db/client.js'
import type { PageMeta } from '../../src/lib/envelope.js'
import { ForbiddenError, ValidationError, withDetails } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import { toPage, type ParsedList } from '../../src/lib/pagination.js'
import { EmailTakenError, LastAdminError, StaleUserError, UserNotFoundError } from './errors.js'
import { userDeleted, userRegistered, type UserEvent } from './events.js'
import { generatePassword, hashPassword, passwordProblem, verifyPassword } from './passwords.js'
import type { NewUserRow, UserRow, UserRepository, UserValues } from './repository.js'
import { EmailSchema, type UpdateUserInput, type User, type UserFilters, type UserListItem } from './schemas.js'

export const USER_COUNT_NAMESPACE = 'users'
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

export function createUserService({ db, dbRead, cache, events, repo, loginFailures, authStateTtlSeconds }: UserServiceDeps) {
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
    return { id: newId(), email, name, passwordHash: await hashPassword(input.password), role: input.role ?? 'user', status: 'active' }
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

  /** A current-password check, throttled like a login: a wrong one counts as a failed login (per account and per client). */
  async function checkCurrentPassword(user: UserRow, currentPassword: string | undefined, client: string) {
    if (currentPassword === undefined) throw weakPassword('currentPassword', 'currentPassword is required to change your password')
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
      const values = await newRow({ ...input, role: 'user' })
      const row = await db.transaction(async (tx) => {
        const created = await taken(repo.insert(tx, values))
        await events.publish(userRegistered, eventOf(created), { tx })
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
     * PATCH: only the fields sent. Role and status are for admins; a new email or password needs a
     * bearer session; your own new password needs the current one. With If-Match (`versions`), only
     * the version the caller saw is changed (412 otherwise). A new password or disabling ends every
     * session of the user; the last active admin is neither demoted nor disabled (409 LAST_ADMIN).
     */
    async update(actor: Principal, id: string, input: UpdateUserInput, versions: number[] | undefined, client: string): Promise<User> {
      const current = await load(actor, id)
      if ((input.role !== undefined || input.status !== undefined) && !can(actor, 'admin'))
        throw new ForbiddenError('Only admins can change a role or a status')
      if ((input.email !== undefined || input.password !== undefined) && actor.apiKeyId)
        throw new ForbiddenError('Changing an email or a password needs a bearer session (log in); an API key cannot do it')
      if (versions && !versions.includes(current.version)) throw new StaleUserError()

      const values: UserValues = {}
      if (input.name !== undefined) values.name = input.name.trim()
      if (input.email !== undefined) values.email = normalizeEmail(input.email)
      if (input.role !== undefined) values.role = input.role
      if (input.status !== undefined) values.status = input.status
      if (input.password !== undefined) {
        // Your own password needs the current one; an admin resetting someone else's does not.
        if (actor.id === id) await checkCurrentPassword(current, input.currentPassword, client)
        const problem = passwordProblem(input.password, values.email ?? current.email)
        if (problem) throw weakPassword('password', problem)
        values.passwordHash = await hashPassword(input.password)
      }

      const signOut = values.passwordHash !== undefined || (values.status === 'disabled' && current.status !== 'disabled')
      const mayDropAnAdmin = (values.role !== undefined && values.role !== 'admin') || values.status === 'disabled'
      const row = await db.transaction(async (tx) => {
        if (mayDropAnAdmin) await keepAnAdmin(tx, id)
        const updated = await taken(repo.update(tx, id, values, { versions, signOut }))
        if (!updated) throw versions ? new StaleUserError() : new UserNotFoundError()
        return updated
      })
      await invalidate(id)
      return toUser(row)
    },

    /** Delete an account (yourself, or anyone for admins), and `user.deleted` in the same transaction. */
    async remove(actor: Principal, id: string): Promise<void> {
      await load(actor, id)
      await db.transaction(async (tx) => {
        await keepAnAdmin(tx, id)
        if (!(await repo.delete(tx, id))) throw new UserNotFoundError()
        await events.publish(userDeleted, { userId: id }, { tx })
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
