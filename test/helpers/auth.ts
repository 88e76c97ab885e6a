// Test helpers for anything behind authentication: create users of any role and log them in.
import { createHmac } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { Role } from '../../src/lib/permissions.js'
import { waitFor } from './wait.js'

export interface TestUser {
  id: string
  email: string
  password: string
  role: Role
  accessToken: string
  refreshToken: string
  /** The session the tokens belong to. */
  sessionId: string
  /** `{ authorization: 'Bearer ...' }` for app.inject. */
  headers: { authorization: string }
}

let counter = 0

/** The password createUser gives a user unless told otherwise (what `currentPassword` must be for its presence checks). */
export const DEFAULT_PASSWORD = 'Correct-Horse-9-Battery'

/** Create a user (any role, straight through the users contract) and log it in over HTTP. */
export async function createUser(
  app: FastifyInstance,
  options: { role?: Role; email?: string; password?: string; name?: string } = {},
): Promise<TestUser> {
  const role = options.role ?? 'user'
  const email = options.email ?? `${role}-${process.pid}-${++counter}@example.test`
  const password = options.password ?? DEFAULT_PASSWORD
  const users = app.users
  const user = await users.create({ email, password, name: options.name ?? `Test ${role} ${counter}`, role })
  const tokens = await login(app, email, password)
  return { id: user.id, email, password, role, ...tokens, headers: bearer(tokens.accessToken) }
}

export interface Session {
  accessToken: string
  refreshToken: string
  sessionId: string
}

/** Log in over HTTP: a new session. */
export async function login(app: FastifyInstance, email: string, password: string): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } })
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  const { accessToken, refreshToken, sessionId } = res.json().data
  return { accessToken, refreshToken, sessionId }
}

/** `{ authorization: 'Bearer ...' }` for an access token. */
export const bearer = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` })

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A JWT signed by hand (HS256 with `secret`, or unsigned with alg none), for tampering tests. */
export function handMadeJwt(
  payload: Record<string, unknown>,
  secret: string | null,
  header: Record<string, unknown> = { alg: secret ? 'HS256' : 'none', typ: 'JWT' },
): string {
  const head = `${b64(header)}.${b64(payload)}`
  if (secret === null) return `${head}.`
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`
}

export const decodeJwt = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>

/**
 * The token of the newest emailed link of `template` sent to `to`, as the email carries it when it
 * leaves (the outbox holds a placeholder, never the token: the users contract reveals it).
 */
export async function emailedToken(app: FastifyInstance, to: string, template: string): Promise<string> {
  const row = await waitFor(
    async () =>
      (
        await app.sql<
          { text: string }[]
        >`select text from email_outbox where "to" = ${to} and template = ${template} order by id desc limit 1`
      )[0],
    { what: `a ${template} email to ${to}` },
  )
  const token = /\?token=([A-Za-z0-9_-]+)/.exec(app.users.revealTokens(row.text))?.[1]
  if (!token) throw new Error(`no link in the ${template} email to ${to}:\n${row.text}`)
  return token
}
