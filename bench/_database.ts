// A scratch database for one benchmark, made and dropped by the tests' own helper on the server
// bench/run.ts points DATABASE_URL at.
import { createTestDatabase } from '../test/helpers/build.js'

export async function benchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const teardowns: (() => unknown)[] = []
  const url = await createTestDatabase({ teardown: (fn) => teardowns.push(fn) })
  return {
    url,
    drop: async () => {
      for (const fn of teardowns.reverse()) await fn()
    },
  }
}
