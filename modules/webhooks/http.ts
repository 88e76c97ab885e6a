// One webhook POST with node:http(s): a hard deadline, no redirects followed, the first bytes of the
// response body kept (the rest drained), and the SSRF-guarded DNS lookup (ssrf.ts) on every connection.
import http from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import { guardedLookup, hostOf, isRefusedAddress } from './ssrf.js'

/** How much of a receiver's answer is kept (for the attempt's `responseBody`). */
export const RESPONSE_EXCERPT_BYTES = 1024

export interface PostResult {
  statusCode: number
  headers: http.IncomingHttpHeaders
  /** The first RESPONSE_EXCERPT_BYTES of the body (UTF-8; a character cut in half is dropped). */
  body: string
}

export interface PostOptions {
  timeoutMs: number
  allowPrivate: boolean
}

/** The SSRF guard refused the target; the delivery fails without being retried. */
export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError'
}

const refused = () => new BlockedAddressError('refused to connect: the host does not resolve to public addresses only')

export function postJson(
  target: string,
  body: string,
  headers: Record<string, string>,
  { timeoutMs, allowPrivate }: PostOptions,
): Promise<PostResult> {
  const url = new URL(target)
  const host = hostOf(url)
  // An IP literal skips DNS, so the lookup guard would not see it.
  if (isIP(host) && isRefusedAddress(host, allowPrivate)) return Promise.reject(refused())
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'Keel-Webhooks/1.0',
          ...headers,
        },
        lookup: guardedLookup(allowPrivate) as unknown as http.RequestOptions['lookup'],
      },
      (res) => {
        // Keep the first bytes; drain the rest so the socket is released (the deadline still applies).
        const kept: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          if (size >= RESPONSE_EXCERPT_BYTES) return
          kept.push(chunk.subarray(0, RESPONSE_EXCERPT_BYTES - size))
          size += Math.min(chunk.length, RESPONSE_EXCERPT_BYTES - size)
        })
        res.on('end', () => {
          clearTimeout(timer)
          const body = Buffer.concat(kept)
            .toString('utf8')
            .replace(/\uFFFD$/, '')
          resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body })
        })
        res.on('error', (err) => {
          clearTimeout(timer)
          reject(err)
        })
      },
    )
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    )
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(err.code === 'EREFUSEDADDRESS' ? refused() : err)
    })
    req.end(body)
  })
}

/** Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value
  if (!raw) return undefined
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim())
  const date = Date.parse(raw)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000))
}

// What a failed request is called in a delivery's record: the error code and a fixed phrase, never
// the error's own message, which names the address and port it connected to (SECURITY.md).
const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the receiver',
  EPIPE: 'connection closed by the receiver',
  ETIMEDOUT: 'no answer in time',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed, temporarily',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  HPE_INVALID_CONSTANT: 'the answer is not valid HTTP',
  UND_ERR_SOCKET: 'connection closed by the receiver',
}

/** A network error as a delivery records it: `ECONNREFUSED: connection refused`, `ETIMEDOUT: no answer in time (5000 ms)`. */
export function describeNetworkError(err: NodeJS.ErrnoException, timeoutMs: number): string {
  const code = err.code ?? 'ERROR'
  if (code === 'ETIMEDOUT') return `ETIMEDOUT: no answer in time (${timeoutMs} ms)`
  if (code.startsWith('HPE_')) return `${code}: the answer is not valid HTTP`
  if (code.startsWith('ERR_TLS') || code.includes('CERT')) return `${code}: TLS handshake failed`
  return `${code}: ${NETWORK_ERRORS[code] ?? 'the request failed'}`
}
