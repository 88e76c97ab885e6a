// Export the live OpenAPI spec to openapi.yaml (`npm run openapi`), or check that the committed
// file is current and valid (`npm run openapi:check`, used in CI).
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import SwaggerParser from '@apidevtools/swagger-parser'
import { stringify } from 'yaml'
import { buildApp } from '../app/app.js'
import { loadConfig } from '../lib/config.js'
import { projectRoot } from '../lib/paths.js'

const target = join(projectRoot, 'openapi.yaml')

async function generate(): Promise<string> {
  // A fixed, offline configuration: the spec depends on the code only, never on this machine's env.
  const config = loadConfig({
    DATABASE_URL: 'postgres://offline@127.0.0.1:1/keel',
    JWT_SECRET: 'offline-export-secret-offline-export-secret',
    LOG_LEVEL: 'silent',
  })
  const app = await buildApp({ config, logger: false, offline: true })
  await app.ready()
  const spec = app.swagger()
  await app.close()
  // Validate a copy: the validator dereferences in place.
  await SwaggerParser.validate(structuredClone(spec) as never)
  // No anchors or aliases: generators and linters read every object in full where it is used.
  return stringify(spec, { lineWidth: 0, aliasDuplicateObjects: false })
}

const yaml = await generate()
if (process.argv.includes('--check')) {
  const current = existsSync(target) ? readFileSync(target, 'utf8') : ''
  if (current !== yaml) {
    console.error('openapi.yaml is stale: run `npm run openapi` and commit the result.')
    process.exit(1)
  }
  console.log('openapi.yaml is current and valid (OpenAPI 3.0).')
} else {
  writeFileSync(target, yaml)
  console.log(`wrote ${target}`)
}
