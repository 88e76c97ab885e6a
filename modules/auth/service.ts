// Sign-up, login, refresh-token rotation with reuse detection, logout. No HTTP here.
import { createHash, randomBytes } from 'node:crypto'
import type { Audit } from '../../plugins/auth.js'
import type { Principal, Role } from '../../plugins/rbac.js'
import { UnauthorizedError } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import { verifyDummy, verifyPassword, type User, type UsersContract } from '../users/contract.js'
import { AccountDisabledError, InvalidCredentialsError, InvalidRefreshTokenError } from './errors.js'
import type { AuthRepository } from './repository.js'
import type { LoginInput, LogoutInput, RegisterInput, Tokens } from './schemas.js'

export interface AuthServiceDeps {
  repo: AuthRepository
  users: UsersContract
  signAccessToken: (user: { id: string; role: Role; tokenVersion: number }) => { accessToken: string; expiresIn: number }
  refreshTtlDays: number
  now?: () => number
  /** After an account is created (the welcome email). Its failure is the hook's to handle: the account exists. */
  onRegistered?: (user: User) => Promise<void>
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

export function createAuthService({ repo, users, signAccessToken, refreshTtlDays, now = Date.now, onRegistered }: AuthServiceDeps) {
  async function issue(user: { id: string; role: Role; tokenVersion: number }, familyId: string): Promise<Tokens> {
    const refreshToken = randomBytes(32).toString('base64url')
    const expiresAt = new Date(now() + refreshTtlDays * 86_400_000)
    await repo.insert({
      id: newId(),
      userId: user.id,
      familyId,
      tokenHash: hashToken(refreshToken),
      tokenVersion: user.tokenVersion,
      expiresAt,
    })
    return { ...signAccessToken(user), tokenType: 'Bearer', refreshToken, refreshExpiresAt: expiresAt.toISOString() }
  }

  return {
    async register(input: RegisterInput, audit: Audit): Promise<User> {
      const name = input.name ?? input.email.split('@')[0] ?? input.email
      const user = await users.create({ email: input.email, password: input.password, name })
      audit('auth.registered', { userId: user.id })
      await onRegistered?.(user)
      return user
    },

    async login({ email, password }: LoginInput, audit: Audit): Promise<Tokens & { user: User }> {
      const creds = await users.findCredentials(email)
      // An unknown email costs one argon2 verification too, so timing does not reveal which emails exist.
      const ok = creds ? await verifyPassword(creds.passwordHash, password) : await verifyDummy(password)
      if (!creds || !ok) {
        audit('auth.login.failed', { userId: creds?.id, reason: creds ? 'wrong_password' : 'unknown_email' })
        throw new InvalidCredentialsError()
      }
      if (creds.status !== 'active') {
        audit('auth.login.failed', { userId: creds.id, reason: 'disabled' })
        throw new AccountDisabledError()
      }
      const [tokens, user] = await Promise.all([issue(creds, newId()), users.findById(creds.id)])
      audit('auth.login.succeeded', { userId: creds.id })
      return { ...tokens, user: user! }
    },

    async refresh(refreshToken: string, audit: Audit): Promise<Tokens> {
      const row = await repo.findByHash(hashToken(refreshToken))
      if (!row) throw new InvalidRefreshTokenError()
      const at = new Date(now())
      if (row.revokedAt) throw new InvalidRefreshTokenError()
      // markUsed succeeds for exactly one caller: a second use (now or later) is a replay.
      if (row.usedAt || !(await repo.markUsed(row.id, at))) {
        await repo.revokeFamily(row.familyId, at)
        audit('auth.refresh.reuse_detected', { userId: row.userId, familyId: row.familyId })
        throw new InvalidRefreshTokenError()
      }
      if (row.expiresAt.getTime() <= at.getTime()) throw new InvalidRefreshTokenError()
      const state = await users.getAuthState(row.userId)
      if (!state || state.status !== 'active' || state.tokenVersion !== row.tokenVersion) {
        await repo.revokeFamily(row.familyId, at)
        throw new InvalidRefreshTokenError()
      }
      audit('auth.refresh.succeeded', { userId: row.userId, familyId: row.familyId })
      return issue(state, row.familyId)
    },

    async logout(actor: Principal, input: LogoutInput, audit: Audit): Promise<void> {
      const at = new Date(now())
      if (input.refreshToken) {
        const row = await repo.findByHash(hashToken(input.refreshToken))
        if (row && row.userId === actor.id) await repo.revokeFamily(row.familyId, at)
      }
      if (input.all) {
        await users.bumpTokenVersion(actor.id)
        await repo.revokeAllForUser(actor.id, at)
      }
      audit('auth.logout', { userId: actor.id, all: input.all === true })
    },

    async me(actor: Principal) {
      const user = await users.findById(actor.id)
      if (!user) throw new UnauthorizedError()
      return { ...user, permissions: [...actor.permissions], apiKeyId: actor.apiKeyId ?? null }
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
