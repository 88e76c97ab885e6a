// Password hashing (argon2id, @node-rs/argon2 defaults: 19 MiB, 2 passes) and the strength policy.
import { randomBytes } from 'node:crypto'
import { hash, verify } from '@node-rs/argon2'

export const PASSWORD_MIN_LENGTH = 10
export const PASSWORD_MAX_LENGTH = 256

const COMMON = new Set([
  'password123',
  'password1234',
  'qwerty12345',
  '1234567890',
  '12345678910',
  'iloveyou123',
  'letmein1234',
  'welcome1234',
  'admin12345',
  'changeme123',
])

/** Why a password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string, email?: string): string | undefined {
  if (password.length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters long`
  if (password.length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters long`
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((re) => re.test(password)).length
  if (classes < 2) return 'must mix at least two kinds of characters (lowercase, uppercase, digits, symbols)'
  if (new Set(password).size < 4) return 'must not repeat the same few characters'
  const lower = password.toLowerCase()
  if (email) {
    const address = email.toLowerCase()
    const local = address.split('@')[0] ?? ''
    if (lower === address || (local.length >= 4 && lower.includes(local))) return 'must not contain your email address'
  }
  if (COMMON.has(lower)) return 'is too common'
  return undefined
}

export const hashPassword = (password: string): Promise<string> => hash(password)

/** 24 random characters from four classes, so it always passes the policy (seeds, create-admin). */
export const generatePassword = (): string => `Kp9-${randomBytes(15).toString('base64url')}`

/** False (never throws) for a wrong password or a malformed hash. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password)
  } catch {
    return false
  }
}

let dummyHash: Promise<string> | undefined
/**
 * Spend the same time as a real verification when there is no account to check against, so
 * "unknown email" and "wrong password" cannot be told apart by timing. Always false.
 */
export async function verifyDummy(password: string): Promise<false> {
  dummyHash ??= hash(randomBytes(16).toString('hex'))
  await verifyPassword(await dummyHash, password)
  return false
}
