// `npm run client`: generate the TypeScript client in clients/typescript from openapi.yaml — the
// types (openapi-typescript), a small openapi-fetch wrapper and a README listing every operation.
// `npm run client:check` (CI) fails when the committed client is not what openapi.yaml generates.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript'
import { parse } from 'yaml'
import { projectRoot } from '../lib/paths.js'

type Operation = { operationId?: string; summary?: string; deprecated?: boolean }
type Spec = {
  info: { title: string; version: string; license?: { name: string } }
  paths: Record<string, Record<string, Operation>>
}

const target = join(projectRoot, 'clients', 'typescript')
const templates = join(projectRoot, 'src', 'cli', 'client-template')
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')

function operationsTable(spec: Spec): string {
  const rows: string[] = []
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (!op) continue
      const summary = `${op.deprecated ? '**Deprecated.** ' : ''}${op.summary ?? ''}`
      rows.push(`| ${op.operationId ?? ''} | ${method.toUpperCase()} | \`${path}\` | ${cell(summary)} |`)
    }
  }
  return rows.join('\n')
}

async function generate(): Promise<Record<string, string>> {
  const source = readFileSync(join(projectRoot, 'openapi.yaml'), 'utf8')
  const spec = parse(source) as Spec
  // rootTypes: every named schema is also exported by its own name (`Product`, `ErrorResponse`...).
  const ast = await openapiTS(parse(source), {
    rootTypes: true,
    rootTypesNoSchemaPrefix: true,
    // A default makes a field optional to send, not required: required is what `required` says.
    defaultNonNullable: false,
    silent: true,
  })
  const openapiFetch = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> })
    .devDependencies['openapi-fetch']!
  const fill = (template: string) =>
    readFileSync(join(templates, template), 'utf8')
      .replaceAll('__TITLE__', spec.info.title)
      .replaceAll('__VERSION__', spec.info.version)
      .replaceAll('__LICENSE__', spec.info.license?.name ?? 'UNLICENSED')
      .replaceAll('__OPENAPI_FETCH__', openapiFetch)
      .replaceAll('__OPERATIONS__', operationsTable(spec))
  const example = fill('example.ts.tpl')
  // The README shows the example as a user writes it: importing the package, without the file's header line.
  const readmeExample = example.replace(/^\/\/.*\n/, '').replace("from './index.js'", "from '@keel/client'")
  return {
    'schema.ts': COMMENT_HEADER + astToString(ast),
    'index.ts': fill('index.ts.tpl'),
    'package.json': fill('package.json.tpl'),
    'example.ts': example,
    'README.md': fill('README.md.tpl').replace('__EXAMPLE__', readmeExample),
  }
}

const files = await generate()
if (process.argv.includes('--check')) {
  const stale = Object.entries(files)
    .filter(([name, text]) => !existsSync(join(target, name)) || readFileSync(join(target, name), 'utf8') !== text)
    .map(([name]) => name)
  if (stale.length > 0) {
    console.error(`clients/typescript is stale (${stale.join(', ')}): run \`npm run client\` and commit the result.`)
    process.exit(1)
  }
  console.log('clients/typescript is current.')
} else {
  mkdirSync(target, { recursive: true })
  for (const [name, text] of Object.entries(files)) writeFileSync(join(target, name), text)
  console.log(`wrote ${target}`)
}
