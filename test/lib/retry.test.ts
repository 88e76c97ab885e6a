import t from 'tap'
import { backoffDelay, retry } from '../../src/lib/retry.js'

t.test('retries with growing, capped, jittered delays until it succeeds', async (t) => {
  const delays: number[] = []
  let calls = 0
  const result = await retry(
    async () => {
      calls++
      if (calls < 4) throw new Error('not yet')
      return 'up'
    },
    {
      retries: 5,
      baseMs: 100,
      maxMs: 250,
      sleep: async (ms) => {
        delays.push(ms)
      },
    },
  )
  t.equal(result, 'up')
  t.equal(calls, 4)
  t.equal(delays.length, 3)
  for (const d of delays) t.ok(d >= 0 && d <= 250)
})

t.test('gives up after the last retry with the last error', async (t) => {
  let calls = 0
  await t.rejects(
    retry(
      async () => {
        calls++
        throw new Error(`fail ${calls}`)
      },
      { retries: 2, sleep: async () => {} },
    ),
    { message: 'fail 3' },
  )
})

t.test('the backoff ceiling doubles per attempt and is capped', async (t) => {
  const top = () => 0.999999
  t.equal(backoffDelay(0, 100, 10_000, top), 100)
  t.equal(backoffDelay(3, 100, 10_000, top), 800)
  t.equal(backoffDelay(10, 100, 10_000, top), 10_000)
})
