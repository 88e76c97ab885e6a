// Every response a test receives, checked against openapi.yaml: its status is documented for the
// operation, its media type is, its documented headers are present (when required) and well-formed,
// and its body matches the schema. openapi-backend finds the operation (its router matches the
// concrete URL to the spec's path templates) and validates JSON bodies and headers with Ajv, with
// OpenAPI 3.0 semantics; what it leaves alone (an undocumented status passes there, and only
// application/json bodies are checked) is checked here with its own Ajv.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, InjectOptions } from 'fastify'
import type { Response as InjectResponse } from 'light-my-request'
import addFormats from 'ajv-formats'
import { OpenAPIBackend, ValidationContext, type Operation } from 'openapi-backend'
import { parse } from 'yaml'
import { projectRoot } from '../../src/lib/paths.js'

type Schema = Record<string, unknown>
type MediaType = { schema?: Schema }
type ResponseObject = { content?: Record<string, MediaType>; headers?: Record<string, { required?: boolean; schema?: Schema }> }

let backend: Promise<OpenAPIBackend> | undefined

/** openapi.yaml, loaded and routed once per test process. */
function api(): Promise<OpenAPIBackend> {
  backend ??= (async () => {
    const definition = parse(readFileSync(join(projectRoot, 'openapi.yaml'), 'utf8'))
    const openapi = new OpenAPIBackend({
      definition,
      quick: true, // validators compiled on first use: a test file meets a handful of operations
      customizeAjv: (ajv) => {
        addFormats.default(ajv)
        return ajv
      },
    })
    await openapi.init()
    return openapi
  })()
  return backend
}

const compiled = new WeakMap<Schema, ReturnType<ReturnType<OpenAPIBackend['validator']['getAjv']>['compile']>>()

function validateWith(openapi: OpenAPIBackend, schema: Schema, value: unknown): string[] {
  let validate = compiled.get(schema)
  if (!validate) {
    validate = openapi.validator.getAjv(ValidationContext.Response).compile(schema)
    compiled.set(schema, validate)
  }
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}`)
}

/** The documented response for a status: exact, then 4XX-style, then default. */
function responseFor(operation: Operation, status: number): ResponseObject | undefined {
  const responses = (operation.responses ?? {}) as Record<string, ResponseObject>
  return responses[String(status)] ?? responses[`${String(status)[0]}XX`] ?? responses.default
}

const isJson = (mediaType: string) => mediaType === 'application/json' || mediaType.endsWith('+json')

/** What is wrong with a response, as lines; empty when it matches the spec. */
export async function specProblems(
  method: string,
  url: string,
  res: Pick<InjectResponse, 'statusCode' | 'headers' | 'payload'>,
): Promise<string[]> {
  const openapi = await api()
  const [path = '/', search = ''] = url.split('?')
  const operation = openapi.matchOperation({
    method,
    path,
    query: Object.fromEntries(new URLSearchParams(search)),
    headers: {},
  })
  const mediaType = String(res.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase()
  const body = res.payload
  const json = () => {
    try {
      return { value: JSON.parse(body) as unknown }
    } catch {
      return undefined
    }
  }

  // An app that does not serve the operation at all (a ROLE=worker process has no module routes)
  // answers its unknown-route 404: held to the error shape only, like any unknown URL.
  const unserved = res.statusCode === 404 && /^\{"success":false,"error":"Route /.test(body)
  if (!operation || unserved) {
    // A route the spec does not have (the docs UI, one a test adds itself, an unknown URL): only its
    // errors are held to the contract, in whichever of the two error shapes was asked for.
    if (res.statusCode < 400 || !isJson(mediaType)) return []
    const parsed = json()
    if (!parsed) return [`${res.statusCode} body is not JSON`]
    const components = (openapi.definition.components?.schemas ?? {}) as Record<string, Schema>
    const schema = mediaType === 'application/problem+json' ? components.ProblemDetails : components.ErrorResponse
    return schema ? validateWith(openapi, schema, parsed.value) : []
  }

  const name = `${operation.operationId ?? `${method} ${operation.path}`} ${res.statusCode}`
  const documented = responseFor(operation, res.statusCode)
  if (!documented) return [`${name}: status not documented`]
  const problems: string[] = []

  for (const [header, spec] of Object.entries(documented.headers ?? {})) {
    if (spec.required && res.headers[header.toLowerCase()] === undefined) problems.push(`${name}: header ${header} is missing`)
  }
  if (operation.operationId) {
    const headers = openapi.validator.validateResponseHeaders(res.headers, operation, { statusCode: res.statusCode })
    for (const e of headers.errors ?? []) problems.push(`${name}: header ${e.instancePath} ${e.message}`)
  }

  if (body.length === 0) {
    if (documented.content && res.statusCode !== 204 && res.statusCode !== 304 && method !== 'HEAD') {
      problems.push(`${name}: empty body, the spec documents ${Object.keys(documented.content).join(', ')}`)
    }
    return problems
  }
  const media = documented.content?.[mediaType]
  if (!media) {
    problems.push(`${name}: media type '${mediaType}' not documented (${Object.keys(documented.content ?? {}).join(', ') || 'no body'})`)
    return problems
  }
  if (!media.schema) return problems
  if (!isJson(mediaType)) return [...problems, ...validateWith(openapi, media.schema, body).map((p) => `${name}: ${p}`)]
  const parsed = json()
  if (!parsed) return [...problems, `${name}: body is not JSON`]
  if (mediaType === 'application/json' && operation.operationId) {
    const result = openapi.validator.validateResponse(parsed.value, operation, res.statusCode)
    for (const e of result.errors ?? []) problems.push(`${name}: ${e.instancePath || '(body)'} ${e.message}`)
  } else {
    problems.push(...validateWith(openapi, media.schema, parsed.value).map((p) => `${name}: ${p}`))
  }
  return problems
}

/** Make `app.inject(options)` reject when the response does not match openapi.yaml. */
export function validateResponses(app: FastifyInstance): void {
  const inject = app.inject.bind(app)
  const checked = async (options: InjectOptions | string) => {
    const res = await inject(options)
    const req = res.raw.req as { method?: string; url?: string }
    const problems = await specProblems(req.method ?? 'GET', req.url ?? '/', res)
    if (problems.length > 0) {
      throw new Error(
        `response does not match openapi.yaml (${req.method} ${req.url}):\n  ${problems.join('\n  ')}\n  body: ${res.payload.slice(0, 500)}`,
      )
    }
    return res
  }
  // Only the promise form is checked (the chained and callback forms are passed through as they are).
  app.inject = ((options?: InjectOptions | string, callback?: unknown) =>
    options === undefined || callback !== undefined
      ? (inject as (...a: unknown[]) => unknown)(options, callback)
      : checked(options)) as typeof app.inject
}
