// `npm run remove:module -- <name>`: remove a module — its folder, its tests — refresh openapi.yaml and
// the TypeScript client, and take its tables out of the database schema: a migration that was never
// committed is simply deleted (it never reached a database but yours), a committed one gets a drop migration.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync, spawnSync } from 'node:child_process'
import { projectRoot } from '../lib/paths.js'

const name = process.argv[2]
const moduleDir = join(projectRoot, 'modules', name ?? '')
if (!name || !/^[a-z][a-z0-9-]*$/.test(name) || !existsSync(moduleDir)) {
  console.error(
    `usage: npm run remove:module -- <name>   (an existing folder under modules/)${name ? `; modules/${name} does not exist` : ''}`,
  )
  process.exit(1)
}
const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: projectRoot, stdio: 'inherit' })

const tables = existsSync(join(moduleDir, 'tables.ts'))
  ? [...readFileSync(join(moduleDir, 'tables.ts'), 'utf8').matchAll(/pgTable\(\s*'([^']+)'/g)].map((m) => m[1]!)
  : []
rmSync(moduleDir, { recursive: true, force: true })
rmSync(join(projectRoot, 'test', 'modules', name), { recursive: true, force: true })
console.log(`removed modules/${name}/ and test/modules/${name}/`)

interface Journal {
  entries: { idx: number; tag: string }[]
}
const journalPath = join(projectRoot, 'drizzle', 'meta', '_journal.json')
const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as Journal
const last = journal.entries.at(-1)
const createsOnly = (tag: string) => {
  const sql = readFileSync(join(projectRoot, 'drizzle', `${tag}.sql`), 'utf8')
  const created = [...sql.matchAll(/CREATE TABLE "([^"]+)"/g)].map((m) => m[1]!)
  return created.length > 0 && created.every((t) => tables.includes(t)) && tables.every((t) => created.includes(t))
}
const tracked = (file: string) =>
  spawnSync('git', ['ls-files', '--error-unmatch', file], { cwd: projectRoot, stdio: 'ignore' }).status === 0

if (tables.length === 0) {
  console.log('the module had no tables: no migration needed')
} else if (last && createsOnly(last.tag) && !tracked(`drizzle/${last.tag}.sql`)) {
  // The newest migration only created this module's tables and was never committed: drop it.
  rmSync(join(projectRoot, 'drizzle', `${last.tag}.sql`))
  rmSync(join(projectRoot, 'drizzle', 'meta', `${String(last.idx).padStart(4, '0')}_snapshot.json`))
  journal.entries.pop()
  writeFileSync(journalPath, JSON.stringify(journal, null, 2)) // as drizzle-kit writes it (no final newline)
  console.log(
    `deleted the uncommitted migration ${last.tag} (it only created ${tables.join(', ')}; drop them by hand in a database that ran it)`,
  )
} else {
  run('npx', ['drizzle-kit', 'generate', '--name', `drop_${name.replace(/-/g, '_')}`])
  console.log(`wrote a migration dropping ${tables.join(', ')}: review it, then commit it`)
}

run('npm', ['run', '--silent', 'openapi'])
run('npm', ['run', '--silent', 'client'])
console.log(`\nDone: /api/v1/${name} is gone from the sources, openapi.yaml and the client. Rebuild (npm run build) before npm start.`)
