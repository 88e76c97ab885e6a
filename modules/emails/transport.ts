// How an email leaves: nodemailer over SMTP when SMTP_URL is set, otherwise a log transport that
// records the message as sent (one log line). Classifies SMTP failures as transient or permanent.
import nodemailer from 'nodemailer'
import type { FastifyBaseLogger } from 'fastify'
import { newId } from '../../src/lib/ids.js'

export interface OutgoingEmail {
  from: string
  to: string
  subject: string
  text: string
}

export interface EmailTransport {
  kind: 'smtp' | 'log'
  send: (email: OutgoingEmail) => Promise<{ messageId: string }>
  close: () => void
}

/**
 * `showText`: the log transport writes the body too (development and tests: the links of emailed
 * tokens are there to click). Never in production, where a log is no place for a live link.
 */
export function createTransport(smtpUrl: string | undefined, log: FastifyBaseLogger, { showText = false } = {}): EmailTransport {
  if (!smtpUrl) {
    return {
      kind: 'log',
      send: async (email) => {
        const messageId = `<${newId()}@log.keel>`
        const text = showText ? { text: email.text } : {}
        log.info({ transport: 'log', to: email.to, subject: email.subject, messageId, ...text }, 'email recorded as sent (log transport)')
        return { messageId }
      },
      close: () => {},
    }
  }
  const transporter = nodemailer.createTransport(smtpUrl)
  return {
    kind: 'smtp',
    send: async (email) => {
      const info = await transporter.sendMail(email)
      return { messageId: info.messageId }
    },
    close: () => transporter.close(),
  }
}

/** A 5xx SMTP reply is permanent (bad address, rejected); 4xx replies and connection errors may pass on retry. */
export function isPermanentSmtpError(err: unknown): boolean {
  const code = (err as { responseCode?: unknown }).responseCode
  return typeof code === 'number' && code >= 500 && code < 600
}
