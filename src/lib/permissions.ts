// Roles, permissions and ownership: admin [read, write, delete, admin];
// moderator [read, write, delete]; user [read, write]. A `user` writes only what it owns.
import { ForbiddenError } from './errors.js'

export const ROLES = ['admin', 'moderator', 'user'] as const
export type Role = (typeof ROLES)[number]
export const PERMISSIONS = ['read', 'write', 'delete', 'admin'] as const
export type Permission = (typeof PERMISSIONS)[number]

export const rolePermissions: Record<Role, readonly Permission[]> = {
  admin: ['read', 'write', 'delete', 'admin'],
  moderator: ['read', 'write', 'delete'],
  user: ['read', 'write'],
}

/** Who is calling: a user by access token, or by one of its API keys (permissions narrowed by scopes). */
export interface Principal {
  id: string
  role: Role
  permissions: readonly Permission[]
  /** Set when the caller authenticated with an API key. */
  apiKeyId?: string
  /** Set when the caller authenticated with a bearer access token: the session it names. */
  sessionId?: string
}

export const can = (principal: Principal | null | undefined, permission: Permission): boolean =>
  !!principal && principal.permissions.includes(permission)

/** Moderators and admins act on anything; a `user` only on what it owns. */
export const actsOnAnything = (principal: Principal): boolean => principal.role === 'admin' || principal.role === 'moderator'

/** Throws 403 unless the caller has the permission and owns the resource (or acts on anything). */
export function assertCanActOn(principal: Principal, ownerId: string, permission: Permission = 'write'): void {
  if (!can(principal, permission)) throw new ForbiddenError(`This action needs the '${permission}' permission`)
  if (principal.id !== ownerId && !actsOnAnything(principal)) throw new ForbiddenError('You can only change resources you own')
}
