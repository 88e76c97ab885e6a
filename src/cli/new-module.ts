// `npm run new:module -- <name>`: scaffold a working CRUD module (tables, schemas, repository,
// service, routes, contract, README, tests), generate its migration and refresh openapi.yaml.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { execSync } from 'node:child_process'
import { projectRoot } from '../lib/paths.js'

const name = process.argv[2]
if (!name || !/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(name)) {
  console.error('usage: npm run new:module -- <name>   (kebab-case, plural, e.g. invoices or line-items)')
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
  __name__: name,
  __table__: words.join('_'),
  __Name__: pascal(words),
  __Item__: pascal(singular),
  __camel__: words[0] + pascal(words.slice(1)),
}
const fill = (text: string) => text.replace(/__(name|table|Name|Item|camel)__/g, (m) => names[m]!)

const templates = join(projectRoot, 'src', 'cli', 'module-template')
mkdirSync(moduleDir, { recursive: true })
for (const file of readdirSync(templates)) {
  if (file === 'test.ts.tpl') continue
  writeFileSync(join(moduleDir, file.replace(/\.tpl$/, '')), fill(readFileSync(join(templates, file), 'utf8')))
}
const testDir = join(projectRoot, 'test', 'modules', name)
mkdirSync(testDir, { recursive: true })
writeFileSync(join(testDir, `${name}.test.ts`), fill(readFileSync(join(templates, 'test.ts.tpl'), 'utf8')))
console.log(`created modules/${name}/ and test/modules/${name}/${name}.test.ts`)

execSync(`npx drizzle-kit generate --name add_${names.__table__}`, { cwd: projectRoot, stdio: 'inherit' })
execSync('npm run --silent openapi', { cwd: projectRoot, stdio: 'inherit' })
console.log(`\nDone: /api/v1/${name} is served on the next start. Run \`npm test -- test/modules/${name}/*.test.ts\`.`)
