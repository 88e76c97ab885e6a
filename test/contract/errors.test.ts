// Errors are written once: each is defined in its module's errors.ts (defineError) and a route
// documents it by listing that definition (errorResponses). This reads the served spec and every
// module's errors.ts and fails when they disagree — a documented error (status, code, example) that
// no definition owns, or a module's error that none of its routes documents.
import t from 'tap'
import { readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { errorResponses, type StandardStatus } from '../../src/lib/envelope.js'
import type { ErrorDefinition, ErrorSpec } from '../../src/lib/errors.js'
import { projectRoot } from '../../src/lib/paths.js'
import { buildOffline } from '../helpers/build.js'

type Media = { examples?: Record<string, { value: { code: string; error: string } }> }
type Spec = {
  paths: Record<string, Record<string, { operationId: string; responses: Record<string, { content?: Record<string, Media> }> }>>
}

const key = ({ status, code, message }: ErrorSpec) => `${status} ${code}: ${message}`
const isDefinition = (value: unknown): value is ErrorDefinition =>
  typeof value === 'function' && typeof (value as { spec?: ErrorSpec }).spec?.code === 'string'

/** The error definitions a file exports. */
async function definitionsIn(file: string): Promise<ErrorSpec[]> {
  const exported = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  return Object.values(exported)
    .filter(isDefinition)
    .map((d) => d.spec)
}

/** Every documented error of an operation: status, code and example message. */
function documented(responses: Record<string, { content?: Record<string, Media> }>): ErrorSpec[] {
  return Object.entries(responses).flatMap(([status, response]) =>
    Object.values(response.content?.['application/json']?.examples ?? {}).map(({ value }) => ({
      status: Number(status),
      code: value.code,
      message: value.error,
    })),
  )
}

const modulesDir = join(projectRoot, 'modules')
const moduleNames = readdirSync(modulesDir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)

t.test('every documented error comes from a definition, and every module error is documented', async (t) => {
  const app = await buildOffline(t)
  await app.ready()
  const spec = app.swagger() as unknown as Spec

  // What the server answers outside the modules' rules (validation, credentials, permissions, limits).
  const standardStatuses: StandardStatus[] = [400, 401, 403, 408, 413, 414, 415, 429, 500, 503]
  const serverWide = new Set<string>()
  for (const [status, schema] of Object.entries(errorResponses(...standardStatuses)))
    for (const e of documented({ [status]: schema as { content?: Record<string, Media> } })) serverWide.add(key(e))
  for (const file of ['src/lib/errors.ts', 'plugins/auth.ts', 'plugins/rate-limit/index.ts'])
    for (const e of await definitionsIn(join(projectRoot, file))) serverWide.add(key(e))

  const ownBy = new Map<string, ErrorSpec[]>()
  for (const name of moduleNames) {
    const file = join(modulesDir, name, 'errors.ts')
    ownBy.set(name, existsSync(file) ? await definitionsIn(file) : [])
  }
  const anyModule = new Set([...ownBy.values()].flat().map(key))
  // An error a module's contract hands to others (users' INVALID_TOKEN on auth's routes) is documented where it surfaces.
  const documentedAnywhere = new Set(
    Object.values(spec.paths)
      .flatMap((item) => Object.values(item))
      .flatMap((op) => documented(op.responses))
      .map(key),
  )

  for (const name of moduleNames) {
    const operations = Object.entries(spec.paths)
      .filter(([path]) => path === `/api/v1/${name}` || path.startsWith(`/api/v1/${name}/`))
      .flatMap(([, item]) => Object.values(item))
    const unowned: string[] = []
    for (const op of operations) {
      for (const error of documented(op.responses)) {
        // Another module's error reaches a route only through that module's contract (check:boundaries).
        if (!serverWide.has(key(error)) && !anyModule.has(key(error))) unowned.push(`${op.operationId}: ${key(error)}`)
      }
    }
    t.same(unowned, [], `${name}: every documented error is a definition's (list the definition in errorResponses)`)
    const undocumented = ownBy
      .get(name)!
      .map(key)
      .filter((k) => !documentedAnywhere.has(k))
    t.same(undocumented, [], `${name}: every error in its errors.ts is documented by a route (its own, or one its contract reaches)`)
  }
})

t.test('errorResponses documents a definition as it is defined', async (t) => {
  const { defineError } = await import('../../src/lib/errors.js')
  const Gone = defineError('GONE_FOR_GOOD', 410, 'It is gone', 'Invoice 42 is gone')
  const schema = errorResponses(Gone)[410]
  t.same(documented({ 410: schema as { content?: Record<string, Media> } }), [
    { status: 410, code: 'GONE_FOR_GOOD', message: 'Invoice 42 is gone' },
  ])
  t.equal(new Gone().message, 'It is gone', 'the thrown default is the definition message; the example is for the docs')
})
