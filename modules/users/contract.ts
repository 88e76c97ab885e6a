// Users' public contract: what other modules may use, built once and decorated as `app.users` —
// accounts (sign-up publishes `user.registered`), credentials for login, the cached auth state
// (role, status, token version) that the identity modules' resolvers check on every request, the
// first admin and the demo seed. Nothing here exposes the table itself.
import { createHmac } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { resolveJwtSecret } from '../../plugins/auth.js'
import { list } from '../../src/lib/config.js'
import { createEmailTokens } from './email-tokens.js'
import { generatePassword } from './passwords.js'
import { createUserRepository } from './repository.js'
import type { User } from './schemas.js'
import { createUserService, type UserServiceDeps, type VerifiedOnly } from './service.js'

export type { AuthState, NewUser } from './service.js'
export type { User, Accepted } from './schemas.js'
export type { VerifiedOnly } from './service.js'
export {
  UserSchema,
  UserResponse,
  EmailSchema,
  NameSchema,
  PasswordSchema,
  CurrentPasswordSchema,
  AcceptedSchema,
  AcceptedResponse,
} from './schemas.js'
export { userRegistered, userDeleted, type UserEvent } from './events.js'
export { verifyPassword, verifyDummy } from './passwords.js'
export { EmailAlreadyVerifiedError, EmailNotVerifiedError, EmailTakenError, InvalidTokenError } from './errors.js'

const repo = createUserRepository()

export interface SeededUsers {
  admin: User
  adminPassword: string
  /** The moderator, Alice and Bob, each with a password of its own (one account's password opens no other). */
  demo: { user: User; password: string }[]
}

/** The users service's dependencies, read from the instance (the contract here, the routes in index.ts). */
export function userServiceDeps(app: FastifyInstance): UserServiceDeps {
  const { config } = app
  const policy = list(config.REQUIRE_VERIFIED_EMAIL_FOR).filter((v): v is VerifiedOnly => v === 'api-keys' || v === 'webhooks')
  return {
    db: app.db,
    dbRead: app.dbRead,
    cache: app.cache,
    events: app.events,
    repo,
    loginFailures: app.loginFailures,
    authStateTtlSeconds: config.AUTH_STATE_CACHE_TTL_SECONDS,
    audit: app.audit,
    emails: app.emails,
    jobs: app.jobs,
    // The emailed links' key, derived from JWT_SECRET (one secret to keep; a new JWT_SECRET voids links in flight).
    tokens: createEmailTokens(createHmac('sha256', resolveJwtSecret(config, app.log)).update('keel email tokens').digest()),
    publicUrl: (config.PUBLIC_URL ?? `http://localhost:${config.PORT}`).replace(/\/+$/, ''),
    verifyTtlHours: config.EMAIL_VERIFICATION_TTL_HOURS,
    resetTtlMinutes: config.PASSWORD_RESET_TTL_MINUTES,
    requireVerifiedFor: new Set(policy),
    now: () => app.clock.now(),
  }
}

export function createUserContract(app: FastifyInstance) {
  const deps = userServiceDeps(app)
  const service = createUserService(deps)
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
     * Before creating what outlives a session (API keys, webhooks): the current password (throttled
     * like a login; 400 when missing or wrong, 429 past the budget) and, when REQUIRE_VERIFIED_EMAIL_FOR
     * names the action, a verified email (403 EMAIL_NOT_VERIFIED).
     */
    confirmPresence: service.confirmPresence,
    /** Emailed links: verify the address, the caller's new verification link. */
    verifyEmail: service.verifyEmail,
    resendVerification: service.resendVerification,
    /** Forgotten password: queue the work (same answer and time for any address), do it (the job), use the link. */
    requestPasswordReset: service.requestPasswordReset,
    sendPasswordReset: service.sendPasswordReset,
    resetPassword: service.resetPassword,
    /** The new address opened its link: the account moves to it, every session ends. */
    confirmEmailChange: service.confirmEmailChange,
    /** An outbox email's text with its token placeholders replaced by the tokens (the email sender, as it sends). */
    revealTokens: deps.tokens.reveal,

    /**
     * Demo data (first start only): when there are no users, an admin and three demo users, each with
     * a generated password of its own. Returns what was created (passwords in clear, once).
     */
    async seedDemoUsers(): Promise<SeededUsers | undefined> {
      if ((await service.count()) > 0) return undefined
      const adminPassword = generatePassword()
      const admin = await service.create({ email: 'admin@keel.local', name: 'Admin', password: adminPassword, role: 'admin' })
      const demo: SeededUsers['demo'] = []
      for (const account of [
        { email: 'moderator@keel.local', name: 'Morgan Moderator', role: 'moderator' as const },
        { email: 'alice@keel.local', name: 'Alice Seller' },
        { email: 'bob@keel.local', name: 'Bob Buyer' },
      ]) {
        const password = generatePassword()
        demo.push({ user: await service.create({ ...account, password }), password })
      }
      return { admin, adminPassword, demo }
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
  {
    fastify: '5.x',
    name: 'users-contract',
    dependencies: ['db', 'cache', 'events', 'rate-limit', 'queue', 'emails-contract', 'audit-events-contract'],
  },
)
