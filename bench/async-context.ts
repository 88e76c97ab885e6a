// What AsyncLocalStorage costs, on this Node.js and on an older one in the same run. Keel keeps each
// request's id in an AsyncLocalStorage (plugins/request-context.ts): on Node.js 20 an active store
// installs promise hooks, so every promise of the process pays for it; Node.js 24 builds it on
// AsyncContextFrame (the context travels with each continuation), which it should make nearly free.
// The workload stands for a request: 20 awaits and a getStore() at the end, 64 in flight at once,
// with the store (run() per request) and without it, in alternating rounds, pinned to CPU 0 as the
// servers of bench/stack.ts are. BENCH_BASELINE_NODE names the other node (default /usr/bin/node when
// it is another version); BENCH_SECONDS sets each round's length.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

// Plain JavaScript, so any Node.js can run it: `node --input-type=module -e WORKLOAD <mode> <seconds>`.
const WORKLOAD = `
import { AsyncLocalStorage } from 'node:async_hooks'
const [mode, seconds] = [process.argv[1], Number(process.argv[2])]
const store = new AsyncLocalStorage()
let done = 0
let seen = 0
const work = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve(i)
  if (store.getStore()?.id) seen++
  done++
}
const request = mode === 'als' ? (id) => store.run({ id }, work) : () => work()
const end = performance.now() + seconds * 1000
const lane = async (n) => { while (performance.now() < end) await request(n) }
await Promise.all(Array.from({ length: 64 }, (_, n) => lane(n + 1)))
console.log(JSON.stringify({ perSecond: done / seconds, seen }))
`

function measure(node: string, mode: 'plain' | 'als'): number {
  const res = spawnSync('taskset', ['-c', '0', node, '--input-type=module', '-e', WORKLOAD, mode, String(SECONDS)], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`${node} ${mode}: ${res.stderr}`)
  const { perSecond, seen } = JSON.parse(res.stdout) as { perSecond: number; seen: number }
  if (mode === 'als' && seen === 0) throw new Error('the store was not seen')
  return perSecond
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const version = (node: string) => spawnSync(node, ['-v'], { encoding: 'utf8' }).stdout.trim()

const nodes = [process.execPath]
const baseline = process.env.BENCH_BASELINE_NODE ?? '/usr/bin/node'
if (existsSync(baseline) && version(baseline) !== process.version) nodes.unshift(baseline)
else console.log(`(no other Node.js to compare with: set BENCH_BASELINE_NODE)`)

console.log(`AsyncLocalStorage: 64 concurrent "requests" of 20 awaits each, ${ROUNDS} rounds of ${SECONDS} s, medians; CPU 0\n`)
console.log('| Node.js | without a store, requests/s | with run() per request, requests/s | ratio |')
console.log('|---|---|---|---|')
for (const node of nodes) {
  const plain: number[] = []
  const als: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(measure(node, 'plain'))
    als.push(measure(node, 'als'))
  }
  const [p, a] = [median(plain), median(als)]
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
  console.log(`| ${version(node)} | ${fmt(p)} | ${fmt(a)} | ${(a / p).toFixed(2)} |`)
}
