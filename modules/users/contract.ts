// What other modules may use from users, built once and decorated as `app.users`: accounts,
// credentials, the cached auth state (role, status, token version) and the demo seed. It also hands
// the auth plugin its access-token resolver. Nothing here exposes the table itself.
import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { rolePermissions } from '../../plugins/rbac.js'
import type { DbOrTx } from '../../src/db/client.js'
import { createUsersRepository } from './repository.js'
import { createUsersService } from './service.js'
import type { UserDto } from './schemas.js'

export type { AuthState, NewUser } from './service.js'
export type { UserDto as User } from './schemas.js'
export { UserSchema } from './schemas.js'
export { EmailSchema, NameSchema, PasswordSchema } from './schemas.js'
export { EmailTakenError } from './errors.js'
export { userRegistered, userDeleted, type UserEvent } from './events.js'
export { verifyPassword, verifyDummy, passwordProblem } from './passwords.js'

/**
 * A user's email address read through the caller's handle — inside another module's transaction
 * pass its `tx`, so the lookup uses the transaction's connection instead of waiting for a second one.
 */
export async function findUserEmail(db: DbOrTx, id: string): Promise<string | undefined> {
  return (await createUsersRepository(db).findById(id))?.email
}

export function createUsersContract(app: FastifyInstance) {
  const service = createUsersService({
    repo: createUsersRepository(app.db),
    cache: app.cache,
    authStateTtlSeconds: app.config.AUTH_STATE_CACHE_TTL_SECONDS,
  })
  return {
    /** Create an account (password policy enforced; EMAIL_TAKEN when the email is in use). */
    create: service.create,
    findById: service.findById,
    /** Id, email, password hash, role, status and token version by email (for login only). */
    findCredentials: service.findCredentials,
    /** Role, status and token version by id; cached, so cheap enough for every request. */
    getAuthState: service.getAuthState,
    /** Make every live access token of the user invalid (logout everywhere). */
    bumpTokenVersion: service.bumpTokenVersion,

    /**
     * First start only: when there are no users, create an admin with a generated password and
     * three demo users sharing one generated password. Returns what was created (passwords in clear, once).
     */
    async seedDemoUsers(): Promise<SeededUsers | undefined> {
      if ((await service.count()) > 0) return undefined
      const adminPassword = generatePassword()
      const demoPassword = generatePassword()
      const admin = await service.create({ email: 'admin@keel.local', name: 'Admin', password: adminPassword, role: 'admin' })
      const demo = [
        await service.create({ email: 'moderator@keel.local', name: 'Morgan Moderator', password: demoPassword, role: 'moderator' }),
        await service.create({ email: 'alice@keel.local', name: 'Alice Seller', password: demoPassword }),
        await service.create({ email: 'bob@keel.local', name: 'Bob Buyer', password: demoPassword }),
      ]
      return { admin, adminPassword, demo, demoPassword }
    },
  }
}

export type UsersContract = ReturnType<typeof createUsersContract>

declare module 'fastify' {
  interface FastifyInstance {
    users: UsersContract
  }
}

export default fp(
  async (app) => {
    const users = createUsersContract(app)
    app.decorate('users', users)
    // An access token stands while its user is active and has not bumped its token version since.
    app.credentials.use({
      async accessToken(claims) {
        const state = await users.getAuthState(claims.sub)
        if (!state || state.status !== 'active' || state.tokenVersion !== claims.ver) return null
        return { id: state.id, role: state.role, permissions: rolePermissions[state.role] }
      },
    })
  },
  { fastify: '5.x', name: 'users-contract', dependencies: ['db', 'cache', 'auth'] },
)

export interface SeededUsers {
  admin: UserDto
  adminPassword: string
  demo: UserDto[]
  demoPassword: string
}

/** 24 random characters from four classes, so it always passes the password policy. */
function generatePassword(): string {
  return `Kp9-${randomBytes(15).toString('base64url')}`
}
