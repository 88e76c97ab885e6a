// One webhook POST with node:http(s): a hard deadline, no redirects followed, the response body
// drained and ignored, and the SSRF-guarded DNS lookup (ssrf.ts) on every connection.
import http from 'node:http'
import https from 'node:https'
import { isIP } from 'node:net'
import { guardedLookup, hostOf, isRefusedAddress } from './ssrf.js'

export interface PostResult {
  statusCode: number
  headers: http.IncomingHttpHeaders
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
        res.resume() // the body is not used; drain it so the socket is released
        res.on('end', () => {
          clearTimeout(timer)
          resolve({ statusCode: res.statusCode ?? 0, headers: res.headers })
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
