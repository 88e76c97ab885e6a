// Users' public contract: what other modules may use, built once and decorated as `app.users` —
// accounts (sign-up publishes `user.registered`), credentials for login, the cached auth state
// (role, status, token version) that the identity modules' resolvers check on every request, the
// first admin and the demo seed. Nothing here exposes the table itself.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { generatePassword } from './passwords.js'
import { createUserRepository } from './repository.js'
import type { User } from './schemas.js'
import { createUserService } from './service.js'

export type { AuthState, NewUser } from './service.js'
export type { User } from './schemas.js'
export { UserSchema, UserResponse, EmailSchema, NameSchema, PasswordSchema } from './schemas.js'
export { userRegistered, userDeleted, type UserEvent } from './events.js'
export { verifyPassword, verifyDummy } from './passwords.js'
export { EmailTakenError } from './errors.js'

const repo = createUserRepository()

export interface SeededUsers {
  admin: User
  adminPassword: string
  demo: User[]
  demoPassword: string
}

export function createUserContract(app: FastifyInstance) {
  const service = createUserService({
    db: app.db,
    dbRead: app.dbRead,
    cache: app.cache,
    events: app.events,
    repo,
    loginFailures: app.loginFailures,
    authStateTtlSeconds: app.config.AUTH_STATE_CACHE_TTL_SECONDS,
  })
  return {
    /** Create an account of any role (password policy enforced; EMAIL_TAKEN when the email is in use). No event. */
    create: service.create,
    /** Sign-up: a `user` account; `user.registered` is published in the same transaction. */
    register: service.register,
    findById: service.findById,
    /** Id, email, password hash, role, status and token version by email (for login only). */
    findCredentials: service.findCredentials,
    /** Role, status and token version by id; cached, so cheap enough for every request. */
    getAuthState: service.getAuthState,
    /** End every session of the user at once (logout everywhere). */
    bumpTokenVersion: service.bumpTokenVersion,
    /** Create or promote an admin (`npm run create-admin`); a generated password is returned once. */
    ensureAdmin: service.ensureAdmin,

    /**
     * Demo data (first start only): when there are no users, an admin with a generated password and
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

export type UserContract = ReturnType<typeof createUserContract>

declare module 'fastify' {
  interface FastifyInstance {
    users: UserContract
  }
}

export default fp(
  async (app) => {
    app.decorate('users', createUserContract(app))
  },
  { fastify: '5.x', name: 'users-contract', dependencies: ['db', 'cache', 'events', 'rate-limit'] },
)
