// A key's own rate limit, and what "no looser than" means: neither a bigger burst (max) nor a faster
// rate (max per second). 600 per 120 s is looser than 300 per 60 s (a bigger burst); 10 per second is
// looser than 300 per minute (a faster rate), though its max is smaller.
import type { RateLimit } from './schemas.js'

export const rateLimitOf = (row: { rateLimitMax: number | null; rateLimitWindowSeconds: number | null }): RateLimit | null =>
  row.rateLimitMax !== null && row.rateLimitWindowSeconds !== null
    ? { max: row.rateLimitMax, windowSeconds: row.rateLimitWindowSeconds }
    : null

/** Whether `limit` allows no more than `cap`: neither a bigger burst nor a faster rate. */
export const isWithin = (limit: RateLimit, cap: RateLimit): boolean =>
  limit.max <= cap.max && limit.max * cap.windowSeconds <= cap.max * limit.windowSeconds
