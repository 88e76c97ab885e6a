// Auth: sign-up, login (throttled by failed attempts), sessions with rotating refresh tokens and
// reuse detection, logout, and the cached session state the access-token resolver checks on every
// request. No HTTP here.
import { createHash, randomBytes } from 'node:crypto'
import { LruMap } from 'toad-cache'
import type { Audit } from '../../plugins/auth.js'
import type { Cache } from '../../plugins/cache.js'
import type { LoginFailures } from '../../plugins/rate-limit/index.js'
import type { Principal, Role } from '../../src/lib/permissions.js'
import type { Db, DbOrTx } from '../../src/db/client.js'
import { UnauthorizedError } from '../../src/lib/errors.js'
import { newId } from '../../src/lib/ids.js'
import type { AuditWriter } from '../audit-events/contract.js'
import { verifyDummy, verifyPassword, type Accepted, type User, type UserContract } from '../users/contract.js'
import { AccountDisabledError, InvalidCredentialsError, InvalidRefreshTokenError, SessionNotFoundError } from './errors.js'
import type { AuthRepository, SessionClient } from './repository.js'
import type { LoginInput, LoginResult, LogoutInput, Me, RegisterInput, Session, Tokens } from './schemas.js'

export const sessionCacheKey = (id: string) => `auth:session:${id}`

/** What the access-token resolver needs to know of a session. */
export interface SessionState {
  userId: string
  /** False once the session has ended (logout, logout everywhere, refresh-token reuse). */
  live: boolean
}

type TokenUser = { id: string; role: Role; tokenVersion: number }
/** Written in the transaction that ends a session (its audit event). */
type InTransaction = (tx: DbOrTx) => Promise<void>

export interface SessionsDeps {
  db: Db
  cache: Cache
  repo: AuthRepository
  /** How long a session's state may be served from the cache (ending a session drops it anyway). */
  cacheTtlSeconds: number
  /** lastUsedAt is written at most this often per session (remembered in memory), not on every request. */
  lastUsedIntervalMs?: number
  now?: () => number
}

/** Sessions whose last write of lastUsedAt this process remembers. */
const MAX_REMEMBERED = 10_000

/**
 * Sessions as the rest of the module sees them: their cached state (read by the access-token
 * resolver on every request), and the ways they end — each drops the cached copy, so a live access
 * token of an ended session is refused at its next request, on every instance sharing the cache.
 */
export function createSessions({ db, cache, repo, cacheTtlSeconds, lastUsedIntervalMs = 60_000, now = Date.now }: SessionsDeps) {
  const lastWrite = new LruMap<number>(MAX_REMEMBERED)
  return {
    /** A request with one of the session's access tokens: its lastUsedAt moves on (at most once per interval). */
    async touch(id: string): Promise<void> {
      const at = now()
      const previous = lastWrite.get(id)
      if (previous !== undefined && at - previous < lastUsedIntervalMs) return
      lastWrite.set(id, at)
      // Best effort: a request the cache can serve is not refused because this write failed (the database down).
      await repo.touchSession(db, id, new Date(at)).catch(() => lastWrite.delete(id))
    },

    /** A session's state, cached. Undefined: no such session. */
    async state(id: string): Promise<SessionState | undefined> {
      const state = await cache.wrap(sessionCacheKey(id), cacheTtlSeconds, async () => {
        const row = await repo.findSession(db, id)
        return row ? { userId: row.userId, live: !row.endedAt } : null
      })
      return state ?? undefined
    },

    /** End one session: its refresh tokens stop now, its access tokens at their next request. `record` runs in the same transaction. */
    async end(id: string, record?: InTransaction): Promise<void> {
      await db.transaction(async (tx) => {
        await repo.endSession(tx, id, new Date(now()))
        await record?.(tx)
      })
      await cache.del(sessionCacheKey(id))
    },

    /** End every session of a user (logout everywhere). `record` runs in the same transaction. */
    async endAllOf(userId: string, record?: InTransaction): Promise<void> {
      const ended = await db.transaction(async (tx) => {
        const ids = await repo.endSessionsOf(tx, userId, new Date(now()))
        await record?.(tx)
        return ids
      })
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
  users: Pick<
    UserContract,
    | 'register'
    | 'findById'
    | 'findCredentials'
    | 'getAuthState'
    | 'bumpTokenVersion'
    | 'verifyEmail'
    | 'resendVerification'
    | 'requestPasswordReset'
    | 'resetPassword'
    | 'confirmEmailChange'
  >
  loginFailures: LoginFailures
  audit: AuditWriter
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
  /** The User-Agent header, shown in the session list. */
  userAgent?: string
}

/** The longest User-Agent kept with a session. */
const USER_AGENT_MAX = 512
const clientOf = ({ ip, userAgent }: Caller): SessionClient => ({
  clientAddress: ip,
  userAgent: userAgent?.slice(0, USER_AGENT_MAX) ?? null,
})

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

export function createAuthService({
  db,
  repo,
  sessions,
  users,
  loginFailures,
  audit: auditTrail,
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
    async login({ email, password }: LoginInput, caller: Caller): Promise<LoginResult & { deviceToken?: string }> {
      const { audit, ip, device } = caller
      // A failed login changes nothing, so it has no transaction: its event is written on its own. No
      // email for an unknown account (people type their password there), never the password.
      const failed = (reason: 'wrong_password' | 'unknown_email' | 'disabled', userId?: string) =>
        auditTrail.record(db, {
          action: 'auth.login.failed',
          actor: null,
          ...(userId ? { subject: { type: 'user' as const, id: userId } } : {}),
          details: { reason },
        })
      const attempt = await loginFailures.begin({ account: email, ip, device }).catch((error: unknown) => {
        audit('auth.login.throttled', {})
        throw error
      })
      const creds = await users.findCredentials(email)
      // An unknown email costs one argon2 verification too, so timing does not reveal which emails exist.
      const ok = creds ? await verifyPassword(creds.passwordHash, password) : await verifyDummy(password)
      if (!creds || !ok) {
        audit('auth.login.failed', { userId: creds?.id, reason: creds ? 'wrong_password' : 'unknown_email' })
        await failed(creds ? 'wrong_password' : 'unknown_email', creds?.id)
        throw new InvalidCredentialsError()
      }
      const deviceToken = await attempt.succeeded()
      if (creds.status !== 'active') {
        audit('auth.login.failed', { userId: creds.id, reason: 'disabled' })
        await failed('disabled', creds.id)
        throw new AccountDisabledError()
      }
      const sessionId = newId()
      const refresh = refreshTokenFor(creds, sessionId)
      await db.transaction(async (tx) => {
        await repo.insertSession(tx, { id: sessionId, userId: creds.id, expiresAt: refresh.expiresAt, ...clientOf(caller) })
        await repo.insertToken(tx, refresh.row)
        await auditTrail.record(tx, {
          action: 'auth.login.succeeded',
          actor: { userId: creds.id },
          subject: { type: 'session', id: sessionId },
          account: creds.id,
        })
      })
      const user = await users.findById(creds.id)
      audit('auth.login.succeeded', { userId: creds.id, sessionId })
      return { ...tokensOf(creds, sessionId, refresh), user: user!, deviceToken }
    },

    /**
     * Spend a refresh token for the next one (and a new access token) of the same session. A spent
     * token presented again ends its session: its other refresh tokens and its access tokens stop.
     */
    async refresh(refreshToken: string, caller: Caller): Promise<Tokens> {
      const { audit } = caller
      const token = await repo.findTokenByHash(db, hashToken(refreshToken))
      if (!token) throw new InvalidRefreshTokenError()
      const session = await repo.findSession(db, token.familyId)
      if (!session || session.endedAt) throw new InvalidRefreshTokenError()
      const reused = async () => {
        await sessions.end(session.id, (tx) =>
          auditTrail.record(tx, {
            action: 'auth.refresh.reuse_detected',
            actor: null,
            subject: { type: 'session', id: session.id },
            account: token.userId,
          }),
        )
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
        await repo.extendSession(tx, session.id, next.expiresAt, clientOf(caller), at)
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
      const record = (all: boolean) => (tx: DbOrTx) =>
        auditTrail.record(tx, { action: 'auth.logout', subject: { type: 'session', id: actor.sessionId! }, details: { all } })
      if (input.all) {
        await users.bumpTokenVersion(actor.id)
        await sessions.endAllOf(actor.id, record(true))
      } else {
        const token = input.refreshToken ? await repo.findTokenByHash(db, hashToken(input.refreshToken)) : undefined
        const ids = new Set([actor.sessionId, ...(token?.userId === actor.id ? [token.familyId] : [])])
        for (const id of ids) await sessions.end(id, id === actor.sessionId ? record(false) : undefined)
      }
      audit('auth.logout', { userId: actor.id, sessionId: actor.sessionId, all: input.all === true })
    },

    /** The sign-up (or resend) link was opened: the account's email is verified. */
    async verifyEmail(token: string, { audit }: Caller): Promise<User> {
      const user = await users.verifyEmail(token)
      audit('auth.email.verified', { userId: user.id })
      return user
    },

    async resendVerification(actor: Principal): Promise<Accepted> {
      return users.resendVerification(actor)
    },

    /** Always the same answer: whether a link goes out (and to whom) is decided in the background. */
    async forgotPassword(email: string, { audit }: Caller): Promise<Accepted> {
      await users.requestPasswordReset(email)
      audit('auth.password_reset.requested', {})
      return { message: 'If an account uses this address, a password-reset link is on its way to it' }
    },

    /** A reset link with a new password: set, and every session of the account ends (refresh tokens included). */
    async resetPassword(token: string, password: string, { audit }: Caller): Promise<void> {
      const { userId } = await users.resetPassword(token, password)
      await sessions.endAllOf(userId)
      audit('auth.password_reset.completed', { userId })
    },

    /** The new address confirmed: the account moves to it; every session ends (log in with the new address). */
    async confirmEmailChange(token: string, { audit }: Caller): Promise<User> {
      const user = await users.confirmEmailChange(token)
      await sessions.endAllOf(user.id)
      audit('auth.email_change.confirmed', { userId: user.id })
      return user
    },

    /** The caller's live sessions, the most recently used first; `current` marks the one its access token names. */
    async listSessions(actor: Principal): Promise<Session[]> {
      const rows = await repo.listLiveSessions(db, actor.id, new Date(now()))
      return rows.map((row) => ({
        id: row.id,
        createdAt: row.createdAt.toISOString(),
        lastUsedAt: row.lastUsedAt.toISOString(),
        expiresAt: row.expiresAt.toISOString(),
        clientAddress: row.clientAddress,
        userAgent: row.userAgent,
        current: row.id === actor.sessionId,
      }))
    },

    /**
     * End one of the caller's sessions, at once and everywhere: its refresh tokens stop now, its access
     * tokens at their next request on any instance. Another user's session, or one already ended, is a 404.
     */
    async endSession(actor: Principal, id: string): Promise<void> {
      const session = await repo.findSession(db, id)
      if (!session || session.userId !== actor.id || session.endedAt || session.expiresAt.getTime() <= now())
        throw new SessionNotFoundError()
      await sessions.end(id, (tx) => auditTrail.record(tx, { action: 'auth.session.ended', subject: { type: 'session', id } }))
    },

    async me(actor: Principal): Promise<Me> {
      const user = await users.findById(actor.id)
      if (!user) throw new UnauthorizedError()
      return { ...user, permissions: [...actor.permissions], apiKeyId: actor.apiKeyId ?? null, sessionId: actor.sessionId ?? null }
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
