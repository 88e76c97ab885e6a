// The published contract as a client generator and a linter read it: license, servers, described
// tags, examples per error code, every status the server can send, no YAML aliases.
import t from 'tap'
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, parseDocument, visit } from 'yaml'
import { moduleIntro } from '../../plugins/swagger.js'
import { projectRoot } from '../../src/lib/paths.js'
import { buildOffline } from '../helpers/build.js'

type Media = { schema?: { $ref?: string }; examples?: Record<string, { value: Record<string, unknown> }> }
type Operation = {
  operationId?: string
  tags?: string[]
  parameters?: { in: string; name: string; required?: boolean; schema?: { default?: unknown } }[]
  responses: Record<string, { content?: Record<string, Media> }>
}
type Spec = {
  info: { license?: { name: string; url?: string }; contact?: { name?: string; email?: string } }
  servers: { url: string }[]
  tags: { name: string; description?: string }[]
  paths: Record<string, Record<string, Operation>>
}

async function specOf(t: Parameters<typeof buildOffline>[0], overrides: Parameters<typeof buildOffline>[1] = {}): Promise<Spec> {
  const app = await buildOffline(t, overrides)
  await app.ready()
  return app.swagger() as unknown as Spec
}

/** Every operation, with `name`: its operationId, or its method and path while it has none. */
const operations = (spec: Spec) =>
  Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ ...op, name: op.operationId ?? `${method.toUpperCase()} ${path}` })),
  )

t.test('the spec names its license, a contact and its server', async (t) => {
  const spec = await specOf(t)
  t.match(spec.info.license, { name: 'MIT', url: /^https:\/\// })
  t.ok(spec.info.contact?.name && spec.info.contact.email, 'a contact')
  t.same(
    spec.servers.map((s) => s.url),
    ['/'],
    'without PUBLIC_URL, the server that serves the document',
  )
  const deployed = await specOf(t, { PUBLIC_URL: 'https://api.example.org' })
  t.same(
    deployed.servers.map((s) => s.url),
    ['https://api.example.org'],
  )
})

t.test('every tag an operation uses is declared with a description, a module taking it from its README', async (t) => {
  const spec = await specOf(t)
  const used = new Set(operations(spec).flatMap((op) => op.tags ?? []))
  t.same(spec.tags.map((tag) => tag.name).sort(), [...used].sort())
  for (const tag of spec.tags) t.ok(tag.description, `${tag.name} is described`)
  t.equal(spec.tags.find((tag) => tag.name === 'products')?.description, moduleIntro('products'))
  t.match(moduleIntro('products'), /^The marketplace catalog/)
})

t.test("a module's tag description is the first paragraph of its README", async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'keel-readme-'))
  mkdirSync(join(root, 'modules', 'invoices'), { recursive: true })
  writeFileSync(
    join(root, 'modules', 'invoices', 'README.md'),
    '# invoices\n\nBills for orders: one per order,\nnumbered without gaps.\n\n| endpoint | who |\n|---|---|\n\nMore details.\n',
  )
  t.equal(moduleIntro('invoices', root), 'Bills for orders: one per order, numbered without gaps.')
  t.equal(moduleIntro('missing', root), undefined)
})

t.test('error responses show one example per code, at the media type, as the envelope and as problem details', async (t) => {
  const spec = await specOf(t)
  const notFound = spec.paths['/api/v1/products/{id}']!.get!.responses['404']!
  const envelope = notFound.content!['application/json']!
  t.equal(envelope.schema?.$ref, '#/components/schemas/ErrorResponse')
  t.match(envelope.examples?.NOT_FOUND?.value, { success: false, code: 'NOT_FOUND', details: [] })
  const problem = notFound.content!['application/problem+json']!
  t.equal(problem.schema?.$ref, '#/components/schemas/ProblemDetails')
  t.match(problem.examples?.NOT_FOUND?.value, { type: 'about:blank', title: 'Not Found', status: 404, code: 'NOT_FOUND' })
  const invalid = spec.paths['/api/v1/products']!.get!.responses['400']!.content!['application/json']!
  t.match(invalid.examples?.VALIDATION_ERROR?.value, { code: 'VALIDATION_ERROR', details: [{ field: 'name' }] })
})

t.test('an operation that takes a body documents 413 and 415; every operation documents 429 and 503', async (t) => {
  const spec = await specOf(t)
  const create = spec.paths['/api/v1/products']!.post!
  t.match(create.responses['413']?.content?.['application/json']?.examples?.PAYLOAD_TOO_LARGE?.value, { code: 'PAYLOAD_TOO_LARGE' })
  t.match(create.responses['415']?.content?.['application/json']?.examples?.UNSUPPORTED_MEDIA_TYPE?.value, {
    code: 'UNSUPPORTED_MEDIA_TYPE',
  })
  const get = spec.paths['/api/v1/products/{id}']!.get!
  t.notOk(get.responses['413'], 'a GET reads no body')
  for (const op of [create, get]) {
    t.ok(op.responses['429'], `${op.operationId} documents 429`)
    t.ok(op.responses['503'], `${op.operationId} documents 503`)
  }
})

t.test('a query parameter with a default is optional', async (t) => {
  const spec = await specOf(t)
  const defaults = operations(spec).flatMap((op) =>
    (op.parameters ?? []).filter((p) => p.in === 'query' && p.schema?.default !== undefined).map((p) => ({ op: op.name, ...p })),
  )
  t.ok(defaults.some((p) => p.op === 'listProducts' && p.name === 'limit'))
  t.ok(defaults.some((p) => p.op === 'listProducts' && p.name === 'sort'))
  for (const p of defaults) t.equal(p.required, false, `${p.op} ${p.name}`)
})

t.test('openapi.yaml has no YAML anchors or aliases', async (t) => {
  const document = parseDocument(readFileSync(join(projectRoot, 'openapi.yaml'), 'utf8'))
  let shared = 0
  visit(document, {
    Alias: () => void shared++,
    Node: (_key, node) => void (node.anchor ? shared++ : undefined),
  })
  t.equal(shared, 0)
})

/** Every schema in the document with where it is (a JSON pointer-like path). */
function* schemasOf(node: unknown, path = ''): Generator<[string, Record<string, unknown>]> {
  if (Array.isArray(node)) for (const [i, item] of node.entries()) yield* schemasOf(item, `${path}/${i}`)
  else if (node && typeof node === 'object') {
    yield [path, node as Record<string, unknown>]
    for (const [key, value] of Object.entries(node)) yield* schemasOf(value, `${path}/${key}`)
  }
}
const oneValue = (s: unknown) =>
  !!s &&
  typeof s === 'object' &&
  ('const' in s || (Array.isArray((s as { enum?: unknown }).enum) && (s as { enum: unknown[] }).enum.length === 1))

t.test('every enumeration is one `enum` of its values, never a union of one-value schemas', async (t) => {
  const spec = await specOf(t)
  const unions = (document: unknown) =>
    [...schemasOf(document)].flatMap(([path, s]) =>
      (['anyOf', 'oneOf'] as const).filter((k) => Array.isArray(s[k]) && (s[k] as unknown[]).every(oneValue)).map((k) => `${path}/${k}`),
    )
  t.same(unions(spec), [], 'no anyOf/oneOf whose members are all one-value enums or consts')
  t.same(unions(parse(readFileSync(join(projectRoot, 'openapi.yaml'), 'utf8'))), [], 'nor in openapi.yaml')
  const enums = new Map([...schemasOf(spec)].filter(([, s]) => Array.isArray(s.enum)).map(([path, s]) => [path, s]))
  const at = (path: string) => enums.get(path)
  const listProducts = spec.paths['/api/v1/products']!.get!.parameters!.findIndex((p) => p.name === 'status')
  t.match(at(`/paths//api/v1/products/get/parameters/${listProducts}/schema`), {
    type: 'string',
    enum: ['active', 'inactive'],
  })
  const components = '/components/schemas'
  t.match(at(`${components}/User/properties/role`), { type: 'string', enum: ['admin', 'moderator', 'user'] })
  t.match(at(`${components}/ApiKey/properties/scopes/items`), { type: 'string', enum: ['read', 'write', 'delete', 'admin'] })
  t.match(at(`${components}/Report/properties/format`), { type: 'string', enum: ['csv', 'json'] })
  t.match(at(`${components}/WebhookEventType`), { type: 'string', enum: ['order.cancelled', 'order.created'] })
  t.match(at(`${components}/Readiness/properties/status`), { type: 'string', enum: ['healthy', 'degraded', 'unhealthy'] })
})

t.test('a value outside an enumeration is a 400 naming the allowed values', async (t) => {
  const app = await buildOffline(t)
  await app.ready()
  const res = await app.inject('/api/v1/products?status=archived')
  t.equal(res.statusCode, 400)
  t.match(res.json(), {
    code: 'VALIDATION_ERROR',
    details: [{ field: 'status', message: 'must be one of: active, inactive', in: 'querystring' }],
  })
  t.equal(res.json().details.length, 1, 'one detail for the one field')
})

t.test('every request body shows an example', async (t) => {
  const spec = (await specOf(t)) as Spec & { components: { schemas: Record<string, { example?: unknown; examples?: unknown }> } }
  type Body = { content: Record<string, { schema?: { $ref?: string }; example?: unknown; examples?: unknown }> }
  const bodies = operations(spec).filter((op): op is typeof op & { requestBody: Body } => 'requestBody' in op)
  t.ok(bodies.length >= 10, `${bodies.length} operations take a body`)
  for (const op of bodies) {
    for (const [type, media] of Object.entries(op.requestBody.content)) {
      const named = media.schema?.$ref ? spec.components.schemas[media.schema.$ref.split('/').pop()!] : undefined
      const example = media.example ?? media.examples ?? named?.example ?? named?.examples
      t.not(example, undefined, `${op.name} (${type})`)
    }
  }
})
