// `npm run new:module -- <name>`: scaffold a working module in the canonical shape (tables, schemas,
// repository, service, routes, events, contract, README, tests — see modules/README.md), formatted,
// with its migration generated, openapi.yaml and the TypeScript client (clients/typescript) refreshed.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { projectRoot } from '../lib/paths.js'

const name = process.argv[2]
if (!name || !/^[a-z][a-z0-9]*(-[a-z0-9]+)*s$/.test(name)) {
  console.error('usage: npm run new:module -- <name>   (kebab-case plural, e.g. invoices or line-items)')
  process.exit(1)
}
const moduleDir = join(projectRoot, 'modules', name)
if (existsSync(moduleDir)) {
  console.error(`modules/${name} already exists`)
  process.exit(1)
}

const words = name.split('-')
const pascal = (ws: string[]) => ws.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')
const singular = [...words.slice(0, -1), words.at(-1)!.replace(/ies$/, 'y').replace(/s$/, '')]
const names: Record<string, string> = {
  __name__: name, // invoices, line-items (the folder, the URL, the tag)
  __item__: singular.join('-'), // invoice, line-item (event names)
  __table__: words.join('_'), // invoices, line_items
  __Name__: pascal(words), // Invoices, LineItems
  __Item__: pascal(singular), // Invoice, LineItem
  __camel__: singular[0] + pascal(singular.slice(1)), // invoice, lineItem (functions and values: invoiceRoutes, invoiceCreated)
}
const fill = (text: string) => text.replace(/__(name|item|table|Name|Item|camel)__/g, (m) => names[m]!)

const templates = join(projectRoot, 'src', 'cli', 'module-template')
const testDir = join(projectRoot, 'test', 'modules', name)
mkdirSync(moduleDir, { recursive: true })
mkdirSync(testDir, { recursive: true })
for (const file of readdirSync(templates)) {
  const target = file === 'test.ts.tpl' ? join(testDir, `${name}.test.ts`) : join(moduleDir, file.replace(/\.tpl$/, ''))
  writeFileSync(target, fill(readFileSync(join(templates, file), 'utf8')))
}
const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: projectRoot, stdio: 'inherit' })
run('npx', ['prettier', '--log-level', 'warn', '--write', `modules/${name}`, `test/modules/${name}`])
console.log(`created modules/${name}/ and test/modules/${name}/${name}.test.ts`)

run('npx', ['drizzle-kit', 'generate', '--name', `add_${names.__table__}`])
run('npm', ['run', '--silent', 'openapi'])
run('npm', ['run', '--silent', 'client'])
console.log(
  `\nDone: /api/v1/${name} is served and documented on the next start, and in the client. Run \`npm test -- test/modules/${name}/*.test.ts\`.`,
)
