// `npm run bench`: every bench/*.ts (but this file) in turn, each measuring its own bare baseline
// in the same run and printing ratios. Uses DATABASE_URL/REDIS_URL, or an embedded PostgreSQL.
import { readdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { ensureDatabaseServer } from '../test/helpers/database-server.js'

const env = { ...process.env }
const server = await ensureDatabaseServer(env)
env.DATABASE_URL = server.url
const only = process.argv[2]
const files = readdirSync(new URL('.', import.meta.url)).filter(
  (f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_') && (!only || f.includes(only)),
)
let failed = 0
for (const file of files.sort()) {
  console.log(`\n=== bench/${file}`)
  const res = spawnSync('npx', ['tsx', `bench/${file}`], { stdio: 'inherit', env })
  if (res.status !== 0) failed++
}
await server.stop()
process.exit(failed ? 1 : 0)
