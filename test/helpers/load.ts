// Steady load for fault tests: `concurrency` clients, each sending one request after another until
// stopped, every answer recorded with when it started and how long it took.
import { performance } from 'node:perf_hooks'

export interface Sample<T> {
  /** performance.now() when the request was sent. */
  start: number
  ms: number
  result: T
}

export interface Load<T> {
  samples: Sample<T>[]
  /** Samples of requests sent at or after `from` (a performance.now() value). */
  since(from: number): Sample<T>[]
  stop(): Promise<void>
}

export function startLoad<T>(send: (client: number) => Promise<T>, { concurrency = 8 }: { concurrency?: number } = {}): Load<T> {
  const samples: Sample<T>[] = []
  let running = true
  const clients = Array.from({ length: concurrency }, async (_, client) => {
    while (running) {
      const start = performance.now()
      const result = await send(client)
      samples.push({ start, ms: performance.now() - start, result })
      // Yield between requests so timers (probes, watchdogs) run even when answers come at once.
      await new Promise((resolve) => setImmediate(resolve))
    }
  })
  return {
    samples,
    since: (from) => samples.filter((s) => s.start >= from),
    async stop() {
      running = false
      await Promise.all(clients)
    },
  }
}

/** p-th percentile (0..100) of numbers. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}
