// `npm run bench`: builds Keel, then runs every bench/*.ts that is a benchmark (stack first: Keel side
// by side with the bare stack; then the others), each measuring its baseline in the same run.
// `npm run bench -- stack` runs one. Uses DATABASE_URL/REDIS_URL, or an embedded PostgreSQL.
import { spawnSync } from 'node:child_process'
import { ensureDatabaseServer } from '../test/helpers/database-server.js'

const benches = ['stack', 'scaling', 'rate-limit', 'jobs', 'async-context']
const only = process.argv[2]
const selected = benches.filter((b) => !only || b.includes(only))
if (selected.length === 0) {
  console.error(`no bench named like '${only}'; there are: ${benches.join(', ')}`)
  process.exit(1)
}

// The figures are this runtime's: Keel is benchmarked on Node.js 24 (.ci/run installs it where missing).
console.log(`Node.js ${process.version}`)
const env = { ...process.env }
const server = await ensureDatabaseServer(env)
env.DATABASE_URL = server.url
let failed = 0
if (spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit', env }).status !== 0) failed++
for (const name of failed ? [] : selected) {
  console.log(`\n=== bench/${name}.ts`)
  const res = spawnSync('npx', ['tsx', `bench/${name}.ts`], { stdio: 'inherit', env })
  if (res.status !== 0) failed++
}
await server.stop()
process.exit(failed ? 1 : 0)
