// The load generator, in a process of its own (pinned to its own core by bench/stack.ts): autocannon
// against one server for one scenario; each request takes the next path (and body) from the lists
// given. Reads its scenario from the JSON file named on the command line, prints its result as JSON.
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

export interface LoadSpec {
  url: string
  method: 'GET' | 'POST'
  paths: string[]
  bodies?: string[]
  headers?: Record<string, string>
  connections: number
  seconds: number
  /** Index of the first path (and body) taken; the warm-ups start halfway, so a measured run's first reads are not the warm-up's. */
  start?: number
}

export interface LoadResult {
  rps: number
  p50: number
  p99: number
  total: number
  non2xx: number
  errors: number
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as LoadSpec
let next = spec.start ?? 0
const instance = autocannon({
  url: spec.url,
  connections: spec.connections,
  duration: spec.seconds,
  method: spec.method,
  headers: { ...(spec.bodies ? { 'content-type': 'application/json' } : {}), ...spec.headers },
  requests: [
    {
      setupRequest: (request) => {
        const i = next++
        request.path = spec.paths[i % spec.paths.length]!
        if (spec.bodies) request.body = spec.bodies[i % spec.bodies.length]!
        return request
      },
    },
  ],
})
const result = await instance
const out: LoadResult = {
  rps: result.requests.average,
  p50: result.latency.p50,
  p99: result.latency.p99,
  total: result.requests.total,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
}
console.log(JSON.stringify(out))
