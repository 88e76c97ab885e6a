// Write the README's configuration table from the config schema (`npm run docs:config`), so the
// table lists every variable, its default and meaning; `--check` fails when it is stale.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigSchema } from '../lib/config.js'
import { projectRoot } from '../lib/paths.js'

export function configTable(): string {
  const rows = Object.entries(ConfigSchema.properties).map(([name, schema]) => {
    const s = schema as { default?: unknown; description?: string; anyOf?: { const: string }[] }
    const def = s.default === undefined ? '—' : `\`${String(s.default)}\``
    const choices = s.anyOf ? `. One of ${s.anyOf.map((c) => `\`${c.const}\``).join(', ')}.` : ''
    return `| \`${name}\` | ${def} | ${(s.description ?? '').replace(/\|/g, '\\|')}${choices} |`
  })
  return [
    '## Configuration',
    '',
    'Read once from the environment and validated (`src/lib/config.ts`); a bad value stops the process at',
    'start with a message naming the variable. This table is generated from that schema (`npm run docs:config`).',
    '',
    '| variable | default | meaning |',
    '|---|---|---|',
    ...rows,
  ].join('\n')
}

const readmePath = join(projectRoot, 'README.md')
const START = '<!-- CONFIG:START -->'
const END = '<!-- CONFIG:END -->'

export function readmeWithTable(readme: string): string {
  const a = readme.indexOf(START)
  const b = readme.indexOf(END)
  if (a < 0 || b < a) throw new Error(`README.md needs the ${START} and ${END} markers`)
  return `${readme.slice(0, a + START.length)}\n${configTable()}\n${readme.slice(b)}`
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const readme = readFileSync(readmePath, 'utf8')
  const next = readmeWithTable(readme)
  if (process.argv.includes('--check')) {
    if (next !== readme) {
      console.error('README.md configuration table is stale: run `npm run docs:config`.')
      process.exit(1)
    }
  } else {
    writeFileSync(readmePath, next)
    console.log('README.md configuration table updated')
  }
}
