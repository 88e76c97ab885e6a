// `npm test`: runs tap against DATABASE_URL, or against an embedded PostgreSQL started here when
// it is unset (a fresh machine needs nothing installed). Redis-only tests need REDIS_URL.
import { spawn } from 'node:child_process'
import { ensureDatabaseServer } from './helpers/database-server.js'

const env = { ...process.env }
const server = await ensureDatabaseServer(env)
env.DATABASE_URL = server.url
if (!env.REDIS_URL)
  console.log('REDIS_URL not set: tests that need a real Redis are skipped and say so (set REDIS_URL=redis://127.0.0.1:6379 to run them)')

// tap's own summary counts assertions as `# { total, pass, fail, skip }`; repeat it as one plain line.
const child = spawn('npx', ['tap', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'], env })
let summary: Record<string, number> | undefined
let pending = ''
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk)
  const lines = (pending + chunk.toString()).split('\n')
  pending = lines.pop() ?? ''
  for (const line of lines) {
    const m = /^# \{ (total: \d+.*) \}$/.exec(line.trim())
    if (m)
      summary = Object.fromEntries(
        m[1]!.split(', ').map((kv) => {
          const [k, v] = kv.split(': ')
          return [k!, Number(v)]
        }),
      )
  }
})
const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? 1)))
await server.stop()
if (summary) {
  const skipped = (summary.skip ?? 0) + (summary.todo ?? 0)
  console.log(`\nassertions: ${summary.pass ?? 0} passed, ${summary.fail ?? 0} failed${skipped ? `, ${skipped} skipped` : ''}`)
}
process.exit(code)
