import t from 'tap'
import { readFileSync } from 'node:fs'
import { readmeWithTable } from '../../src/cli/config-table.js'
import { ConfigSchema } from '../../src/lib/config.js'

t.test('the README documents every configuration variable, as the schema says', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  t.equal(readmeWithTable(readme), readme, 'README table is current (npm run docs:config)')
  for (const name of Object.keys(ConfigSchema.properties)) {
    t.match(readme, new RegExp(`\\| \`${name}\` \\|`), `${name} is in the table`)
    const described = (ConfigSchema.properties as Record<string, { description?: string }>)[name]!.description
    t.ok(described && described.length > 10, `${name} has a description`)
  }
})
