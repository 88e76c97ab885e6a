// The single-use tokens of emailed links (verify an address, reset a password, confirm a new
// address). A token is the HMAC of its row's id under a server key, and only its SHA-256 is stored:
// neither the database nor the email outbox ever holds one. The outbox stores a placeholder naming
// the row (`{{email-token:<id>}}`); the email sender puts the token in its place as the email leaves
// (`reveal`), so an admin reading the outbox, or a leaked backup, finds no live link.
import { createHash, createHmac } from 'node:crypto'
import { newId } from '../../src/lib/ids.js'

const PLACEHOLDER = /\{\{email-token:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}\}/g

/** SHA-256 (hex) of a token: what is stored, and what a presented token is looked up by. */
export const hashEmailToken = (token: string): string => createHash('sha256').update(token).digest('hex')

/** `key`: the server's secret for these tokens (derived from JWT_SECRET by the contract). */
export function createEmailTokens(key: Buffer) {
  const tokenOf = (id: string) => createHmac('sha256', key).update(`email-token:${id}`).digest('base64url')
  return {
    /** A new token: its row id, the hash to store, and the placeholder that stands for it in an email. */
    mint() {
      const id = newId()
      return { id, tokenHash: hashEmailToken(tokenOf(id)), placeholder: `{{email-token:${id}}}` }
    },
    /** An email's text with every placeholder replaced by its token (the email sender, as it sends). */
    reveal: (text: string): string => text.replace(PLACEHOLDER, (_, id: string) => tokenOf(id)),
  }
}

export type EmailTokens = ReturnType<typeof createEmailTokens>
