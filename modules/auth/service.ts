// Auth: sign-up, login (throttled by failed attempts), sessions with rotating refresh tokens and
// reuse detection, logout, and the cached session state the access-token resolver checks on every
// request. No HTTP here.
import { createHash, randomBytes } from 'node:crypto'
import type { Audit } from '../../plugins/auth.js'
import type { Cache } from '../../plugins/cache.js'
import type { LoginFailures } from '../../plugins/rate-limit/index.js'
import type { Principal, Role } from '../../src/lib/permissions.js'
import type { Db } from '../../src/db/client.js'
import { UnauthorizedError } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import { verifyDummy, verifyPassword, type User, type UserContract } from '../users/contract.js'
import { AccountDisabledError, InvalidCredentialsError, InvalidRefreshTokenError } from './errors.js'
import type { AuthRepository } from './repository.js'
import type { LoginInput, LoginResult, LogoutInput, Me, RegisterInput, Tokens } from './schemas.js'

export const sessionCacheKey = (id: string) => `auth:session:${id}`

/** What the access-token resolver needs to know of a session. */
export interface SessionState {
  userId: string
  /** False once the session has ended (logout, logout everywhere, refresh-token reuse). */
  live: boolean
}

type TokenUser = { id: string; role: Role; tokenVersion: number }

export interface SessionsDeps {
  db: Db
  cache: Cache
  repo: AuthRepository
  /** How long a session's state may be served from the cache (ending a session drops it anyway). */
  cacheTtlSeconds: number
  now?: () => number
}

/**
 * Sessions as the rest of the module sees them: their cached state (read by the access-token
 * resolver on every request), and the ways they end — each drops the cached copy, so a live access
 * token of an ended session is refused at its next request, on every instance sharing the cache.
 */
export function createSessions({ db, cache, repo, cacheTtlSeconds, now = Date.now }: SessionsDeps) {
  return {
    /** A session's state, cached. Undefined: no such session. */
    async state(id: string): Promise<SessionState | undefined> {
      const state = await cache.wrap(sessionCacheKey(id), cacheTtlSeconds, async () => {
        const row = await repo.findSession(db, id)
        return row ? { userId: row.userId, live: !row.endedAt } : null
      })
      return state ?? undefined
    },

    /** End one session: its refresh tokens stop now, its access tokens at their next request. */
    async end(id: string): Promise<void> {
      await repo.endSession(db, id, new Date(now()))
      await cache.del(sessionCacheKey(id))
    },

    /** End every session of a user (logout everywhere). */
    async endAllOf(userId: string): Promise<void> {
      const ended = await repo.endSessionsOf(db, userId, new Date(now()))
      await cache.del(...ended.map(sessionCacheKey))
    },

    /** Forget a deleted user's sessions and refresh tokens (the `user.deleted` subscriber); how many sessions. */
    async forget(userId: string): Promise<number> {
      const ids = await repo.deleteForUser(db, userId)
      await cache.del(...ids.map(sessionCacheKey))
      return ids.length
    },
  }
}

export type Sessions = ReturnType<typeof createSessions>

export interface AuthServiceDeps {
  db: Db
  repo: AuthRepository
  sessions: Sessions
  users: Pick<UserContract, 'register' | 'findById' | 'findCredentials' | 'getAuthState' | 'bumpTokenVersion'>
  loginFailures: LoginFailures
  signAccessToken: (user: TokenUser, sessionId: string) => { accessToken: string; expiresIn: number }
  refreshTtlDays: number
  now?: () => number
}

/** Who is asking, for the audit log and the failed-login budgets. */
export interface Caller {
  audit: Audit
  /** The client IP. */
  ip: string
  /** The device token the client sent back from an earlier login (its cookie), if any. */
  device?: string
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

export function createAuthService({
  db,
  repo,
  sessions,
  users,
  loginFailures,
  signAccessToken,
  refreshTtlDays,
  now = Date.now,
}: AuthServiceDeps) {
  /** A new refresh token of a session: the secret (returned once), and its row. */
  function refreshTokenFor(user: TokenUser, sessionId: string) {
    const token = randomBytes(32).toString('base64url')
    const expiresAt = new Date(now() + refreshTtlDays * 86_400_000)
    return {
      token,
      expiresAt,
      row: { id: newId(), userId: user.id, familyId: sessionId, tokenHash: hashToken(token), tokenVersion: user.tokenVersion, expiresAt },
    }
  }

  const tokensOf = (user: TokenUser, sessionId: string, refresh: { token: string; expiresAt: Date }): Tokens => ({
    ...signAccessToken(user, sessionId),
    tokenType: 'Bearer',
    refreshToken: refresh.token,
    refreshExpiresAt: refresh.expiresAt.toISOString(),
    sessionId,
  })

  return {
    async register(input: RegisterInput, { audit }: Caller): Promise<User> {
      const user = await users.register(input)
      audit('auth.registered', { userId: user.id })
      return user
    },

    /**
     * A new session. Each attempt first takes one failure from the failed-login budgets (429 when
     * one is spent); a right password gives it back, so only failures count. `deviceToken` (for a
     * cookie) lets this client keep a budget of its own on this account.
     */
    async login({ email, password }: LoginInput, { audit, ip, device }: Caller): Promise<LoginResult & { deviceToken?: string }> {
      const attempt = await loginFailures.begin({ account: email, ip, device }).catch((error: unknown) => {
        audit('auth.login.throttled', {})
        throw error
      })
      const creds = await users.findCredentials(email)
      // An unknown email costs one argon2 verification too, so timing does not reveal which emails exist.
      const ok = creds ? await verifyPassword(creds.passwordHash, password) : await verifyDummy(password)
      if (!creds || !ok) {
        audit('auth.login.failed', { userId: creds?.id, reason: creds ? 'wrong_password' : 'unknown_email' })
        throw new InvalidCredentialsError()
      }
      const deviceToken = await attempt.succeeded()
      if (creds.status !== 'active') {
        audit('auth.login.failed', { userId: creds.id, reason: 'disabled' })
        throw new AccountDisabledError()
      }
      const sessionId = newId()
      const refresh = refreshTokenFor(creds, sessionId)
      await db.transaction(async (tx) => {
        await repo.insertSession(tx, { id: sessionId, userId: creds.id, expiresAt: refresh.expiresAt })
        await repo.insertToken(tx, refresh.row)
      })
      const user = await users.findById(creds.id)
      audit('auth.login.succeeded', { userId: creds.id, sessionId })
      return { ...tokensOf(creds, sessionId, refresh), user: user!, deviceToken }
    },

    /**
     * Spend a refresh token for the next one (and a new access token) of the same session. A spent
     * token presented again ends its session: its other refresh tokens and its access tokens stop.
     */
    async refresh(refreshToken: string, { audit }: Caller): Promise<Tokens> {
      const token = await repo.findTokenByHash(db, hashToken(refreshToken))
      if (!token) throw new InvalidRefreshTokenError()
      const session = await repo.findSession(db, token.familyId)
      if (!session || session.endedAt) throw new InvalidRefreshTokenError()
      const reused = async () => {
        await sessions.end(session.id)
        audit('auth.refresh.reuse_detected', { userId: token.userId, sessionId: session.id })
        return new InvalidRefreshTokenError()
      }
      if (token.usedAt) throw await reused()
      const at = new Date(now())
      if (token.expiresAt.getTime() <= at.getTime()) throw new InvalidRefreshTokenError()
      const state = await users.getAuthState(token.userId)
      if (!state || state.status !== 'active' || state.tokenVersion !== token.tokenVersion) {
        await sessions.end(session.id)
        throw new InvalidRefreshTokenError()
      }
      const next = refreshTokenFor(state, session.id)
      // markUsed succeeds for exactly one caller: a concurrent second use is a replay.
      const spent = await db.transaction(async (tx) => {
        if (!(await repo.markUsed(tx, token.id, at))) return false
        await repo.insertToken(tx, next.row)
        await repo.extendSession(tx, session.id, next.expiresAt)
        return true
      })
      if (!spent) throw await reused()
      audit('auth.refresh.succeeded', { userId: token.userId, sessionId: session.id })
      return tokensOf(state, session.id, next)
    },

    /**
     * End the caller's session (the one its access token names), and the session of `refreshToken`
     * when it is the caller's; with `all`, every session of the user (its token version moves on too).
     */
    async logout(actor: Principal, input: LogoutInput, { audit }: Caller): Promise<void> {
      if (!actor.sessionId) throw new UnauthorizedError('Logging out needs a bearer session')
      if (input.all) {
        await users.bumpTokenVersion(actor.id)
        await sessions.endAllOf(actor.id)
      } else {
        const token = input.refreshToken ? await repo.findTokenByHash(db, hashToken(input.refreshToken)) : undefined
        const ids = new Set([actor.sessionId, ...(token?.userId === actor.id ? [token.familyId] : [])])
        for (const id of ids) await sessions.end(id)
      }
      audit('auth.logout', { userId: actor.id, sessionId: actor.sessionId, all: input.all === true })
    },

    async me(actor: Principal): Promise<Me> {
      const user = await users.findById(actor.id)
      if (!user) throw new UnauthorizedError()
      return { ...user, permissions: [...actor.permissions], apiKeyId: actor.apiKeyId ?? null, sessionId: actor.sessionId ?? null }
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
