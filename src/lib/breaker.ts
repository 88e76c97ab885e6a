// A circuit breaker for a dependency (PostgreSQL, Redis): once it is known down, callers fail at
// once instead of each waiting out a timeout; a probe in the background closes it again as soon as
// the dependency answers. "Known down" comes from a failed probe: a caller's error or a slow answer
// only makes the breaker probe (one probe at a time), so one killed connection opens nothing.

export interface BreakerOptions {
  /** Resolves when the dependency answers; rejects (or stays pending) when it does not. */
  probe: () => Promise<unknown>
  /** A probe slower than this counts as a failure. */
  timeoutMs: number
  /** While open, probe this often (ms). */
  intervalMs: number
  /** A probe failure that does not mean "down" (e.g. the server answered with an error): stay closed. */
  isDown?: (err: Error) => boolean
  onOpen?: (err: Error) => void
  onClose?: (downForMs: number) => void
}

export interface Breaker {
  /** True while the dependency is known down: fail at once. */
  readonly isOpen: boolean
  /** Something looks wrong (an error, a slow answer): probe now unless a probe is running; open if it fails. */
  suspect(): void
  /** Known down (a failure that proves it): open now. */
  trip(err: Error): void
  /** The dependency just answered a real call: close now if open. */
  reset(): void
  /** Stop probing (the app is closing). */
  stop(): void
}

export class ProbeTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`)
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ProbeTimeoutError(ms)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

export function createBreaker({ probe, timeoutMs, intervalMs, isDown = () => true, onOpen, onClose }: BreakerOptions): Breaker {
  let openedAt: number | undefined
  let probing: Promise<void> | undefined
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const open = (err: Error) => {
    if (openedAt !== undefined || stopped) return
    openedAt = Date.now()
    onOpen?.(err)
    schedule()
  }
  const close = () => {
    if (openedAt === undefined) return
    const downFor = Date.now() - openedAt
    openedAt = undefined
    clearTimeout(timer)
    timer = undefined
    onClose?.(downFor)
  }
  const schedule = () => {
    if (stopped || timer) return
    timer = setTimeout(() => {
      timer = undefined
      if (openedAt === undefined) return
      runProbe()
      // Keep probing while open, whatever this probe's outcome is by then.
      void probing?.finally(() => openedAt !== undefined && schedule())
    }, intervalMs)
    timer.unref()
  }
  const runProbe = () => {
    if (probing || stopped) return
    probing = withTimeout(Promise.resolve().then(probe), timeoutMs).then(
      () => close(),
      (err: Error) => {
        if (isDown(err)) open(err)
        else close()
      },
    )
    void probing.finally(() => {
      probing = undefined
    })
  }

  return {
    get isOpen() {
      return openedAt !== undefined
    },
    suspect: () => {
      if (openedAt === undefined) runProbe()
    },
    trip: (err) => open(err),
    reset: () => close(),
    stop: () => {
      stopped = true
      clearTimeout(timer)
      timer = undefined
    },
  }
}
