// Exponential backoff with full jitter, for anything that may come up later (database at start, ...).
export interface RetryOptions {
  retries: number
  baseMs?: number
  maxMs?: number
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void
  sleep?: (ms: number) => Promise<void>
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export function backoffDelay(attempt: number, baseMs = 200, maxMs = 10_000, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt)
  return Math.round(random() * ceiling)
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { retries, baseMs = 200, maxMs = 10_000, onRetry, sleep = defaultSleep } = options
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (error) {
      if (attempt >= retries) throw error
      const delay = backoffDelay(attempt, baseMs, maxMs)
      onRetry?.(error, attempt + 1, delay)
      await sleep(delay)
    }
  }
}
