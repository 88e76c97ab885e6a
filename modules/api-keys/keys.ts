// The key format `keel_<prefix>_<secret>`: the prefix (16 hex characters) finds the row, the
// SHA-256 of the whole key is compared in constant time. The key itself is never stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

const KEY_PATTERN = /^keel_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/

export interface GeneratedKey {
  key: string
  prefix: string
  hash: string
}

export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex')

export function generateKey(): GeneratedKey {
  const prefix = randomBytes(8).toString('hex')
  const key = `keel_${prefix}_${randomBytes(32).toString('base64url')}`
  return { key, prefix, hash: hashKey(key) }
}

/** The lookup prefix of a well-formed key, else undefined (no database read for garbage). */
export const keyPrefix = (key: string): string | undefined => KEY_PATTERN.exec(key)?.[1]

export function keyMatches(key: string, storedHash: string): boolean {
  const a = Buffer.from(hashKey(key), 'hex')
  const b = Buffer.from(storedHash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}
