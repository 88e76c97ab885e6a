// Users: registration, profile reads and changes, and the cached auth state (role, status, token
// version) the auth plugin checks on every request. No HTTP here.
import { createHash } from 'node:crypto'
import { can, type Principal } from '../../plugins/rbac.js'
import type { Cache } from '../../plugins/cache.js'
import { ifMatchAllows } from '../../src/lib/conditional.js'
import { ForbiddenError, PreconditionFailedError, ValidationError, withDetails } from '../../src/lib/errors.js'
import type { ParsedList } from '../../src/lib/pagination.js'
import { newId } from '../../src/lib/ids.js'
import { EmailTakenError, UserNotFoundError } from './errors.js'
import { hashPassword, passwordProblem, verifyPassword } from './passwords.js'
import type { UserChanges, UserRow, UsersRepository } from './repository.js'
import type { UpdateUserInput, UserDto, UserFilters } from './schemas.js'

export type UsersCache = Pick<Cache, 'wrap' | 'del' | 'count' | 'invalidateCounts'>

export interface UsersServiceDeps {
  repo: UsersRepository
  cache: UsersCache
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
  name: string
  password: string
  role?: UserRow['role']
}

const COUNT_NAMESPACE = 'users'
const stateKey = (id: string) => `users:auth-state:${id}`

export const toDto = (row: UserRow): UserDto => ({
  id: row.id,
  email: row.email,
  name: row.name,
  role: row.role,
  status: row.status,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
})

/** A strong ETag from the id and the last change time. */
export const etagOf = (row: Pick<UserRow, 'id' | 'updatedAt'>): string =>
  `"${createHash('sha256').update(`${row.id}:${row.updatedAt.getTime()}`).digest('base64url').slice(0, 27)}"`

const weakPassword = (field: string, why: string) => withDetails(new ValidationError(`Password ${why}`), [{ field, message: why }])

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; cause?: { code?: string } }
  return e.code === '23505' || e.cause?.code === '23505'
}

export function createUsersService({ repo, cache, authStateTtlSeconds }: UsersServiceDeps) {
  /** Admins see everyone; anyone else only themselves (others answer 404, not 403: no existence probe). */
  const visible = (actor: Principal, id: string) => actor.id === id || can(actor, 'admin')

  async function changed(id: string, { membership, authState }: { membership: boolean; authState: boolean }) {
    await Promise.all([membership ? cache.invalidateCounts(COUNT_NAMESPACE) : undefined, authState ? cache.del(stateKey(id)) : undefined])
  }

  async function load(actor: Principal, id: string): Promise<UserRow> {
    const row = visible(actor, id) ? await repo.findById(id) : undefined
    if (!row) throw new UserNotFoundError()
    return row
  }

  return {
    async create(input: NewUser): Promise<UserDto> {
      const email = input.email.trim().toLowerCase()
      const problem = passwordProblem(input.password, email)
      if (problem) throw weakPassword('password', problem)
      const passwordHash = await hashPassword(input.password)
      let row: UserRow
      try {
        row = await repo.insert({ id: newId(), email, name: input.name.trim(), passwordHash, role: input.role ?? 'user', status: 'active' })
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError()
        throw error
      }
      await changed(row.id, { membership: true, authState: false })
      return toDto(row)
    },

    async list(filters: UserFilters, list: ParsedList): Promise<{ items: UserDto[]; total: number }> {
      const [rows, total] = await Promise.all([
        repo.list(filters, list),
        cache.count(COUNT_NAMESPACE, { ...filters }, () => repo.count(filters)),
      ])
      return { items: rows.map(toDto), total }
    },

    async get(actor: Principal, id: string): Promise<{ user: UserDto; etag: string }> {
      const row = await load(actor, id)
      return { user: toDto(row), etag: etagOf(row) }
    },

    async findById(id: string): Promise<UserDto | undefined> {
      const row = await repo.findById(id)
      return row && toDto(row)
    },

    async update(actor: Principal, id: string, input: UpdateUserInput, ifMatch?: string): Promise<{ user: UserDto; etag: string }> {
      const current = await load(actor, id)
      const isAdmin = can(actor, 'admin')
      if ((input.role !== undefined || input.status !== undefined) && !isAdmin) {
        throw new ForbiddenError('Only admins can change a role or a status')
      }
      if (!ifMatchAllows(ifMatch, etagOf(current))) {
        throw new PreconditionFailedError()
      }

      const changes: UserChanges = {}
      if (input.name !== undefined) changes.name = input.name.trim()
      if (input.email !== undefined) changes.email = input.email.trim().toLowerCase()
      if (input.role !== undefined) changes.role = input.role
      if (input.status !== undefined) changes.status = input.status
      if (input.password !== undefined) {
        // Changing your own password needs the current one; an admin resetting someone else's does not.
        if (actor.id === id) {
          const hash = await repo.findPasswordHash(id)
          if (input.currentPassword === undefined)
            throw weakPassword('currentPassword', 'currentPassword is required to change your password')
          if (!hash || !(await verifyPassword(hash, input.currentPassword))) {
            throw withDetails(new ValidationError('The current password is incorrect'), [
              { field: 'currentPassword', message: 'is incorrect' },
            ])
          }
        }
        const problem = passwordProblem(input.password, changes.email ?? current.email)
        if (problem) throw weakPassword('password', problem)
        changes.passwordHash = await hashPassword(input.password)
      }

      const signOut = changes.passwordHash !== undefined || (changes.status === 'disabled' && current.status !== 'disabled')
      let row: UserRow | undefined
      try {
        row = await repo.update(id, changes, {
          expectedUpdatedAt: ifMatch !== undefined ? current.updatedAt : undefined,
          bumpTokenVersion: signOut,
        })
      } catch (error) {
        if (isUniqueViolation(error)) throw new EmailTakenError()
        throw error
      }
      if (!row) {
        if (ifMatch !== undefined) throw new PreconditionFailedError()
        throw new UserNotFoundError()
      }
      await changed(id, {
        membership: changes.email !== undefined || changes.name !== undefined || changes.role !== undefined || changes.status !== undefined,
        authState: signOut || changes.role !== undefined || changes.status !== undefined,
      })
      return { user: toDto(row), etag: etagOf(row) }
    },

    async remove(actor: Principal, id: string): Promise<void> {
      await load(actor, id)
      if (!(await repo.delete(id))) throw new UserNotFoundError()
      await changed(id, { membership: true, authState: true })
    },

    /** Role, status and token version, cached; every change above drops the cached copy. */
    async getAuthState(id: string): Promise<AuthState | undefined> {
      const state = await cache.wrap(stateKey(id), authStateTtlSeconds, async () => (await repo.findAuthState(id)) ?? null)
      return state ?? undefined
    },

    /** Invalidate every live access token of the user (logout everywhere). */
    async bumpTokenVersion(id: string): Promise<number | undefined> {
      const version = await repo.bumpTokenVersion(id)
      await changed(id, { membership: false, authState: true })
      return version
    },

    findCredentials: (email: string) => repo.findCredentials(email.trim().toLowerCase()),
    count: () => repo.count(),
  }
}

export type UsersService = ReturnType<typeof createUsersService>
