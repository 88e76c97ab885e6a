// The list query language shared by every list route: limit/offset/page, sort, fields, cursor.
import { Type, type TInteger, type TObject, type TOptional, type TProperties, type TString } from '@sinclair/typebox'
import { and, asc, desc, eq, gt, gte, lt, lte, or, type AnyColumn, type SQL } from 'drizzle-orm'
import { ValidationError, withDetails } from './errors.js'
import type { PageMeta } from './envelope.js'

export interface ListSpec {
  /** Sortable fields (camelCase); snake_case spellings are accepted as aliases. */
  sort: readonly string[]
  /** Default sort, e.g. '-createdAt'. */
  defaultSort: string
  /** Fields a client may pick with `fields=`; omit to disable sparse fields. */
  fields?: readonly string[]
  /** Whether the route accepts keyset `cursor` pagination. */
  cursor?: boolean
}

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

type SharedListProps = {
  limit: TInteger
  offset: TOptional<TInteger>
  page: TOptional<TInteger>
  sort: TString
  fields: TOptional<TString>
  cursor: TOptional<TString>
}

/**
 * TypeBox schema for a list route's querystring: the shared keys plus the module's filters.
 * `fields` and `cursor` are accepted only when the spec enables them (typed as optional either way).
 */
export function ListQuery<F extends TProperties>(spec: ListSpec, filters: F = {} as F): TObject<SharedListProps & F> {
  const shared: TProperties = {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1..100' }),
    offset: Type.Optional(Type.Integer({ minimum: 0, description: 'Rows to skip (alternative to page)' })),
    page: Type.Optional(Type.Integer({ minimum: 1, description: '1-based page number (alternative to offset)' })),
    sort: Type.String({
      default: spec.defaultSort,
      pattern: '^-?[A-Za-z_]+(,-?[A-Za-z_]+)*$',
      description: `Comma-separated keys, '-' for descending. Allowed: ${spec.sort.join(', ')}`,
    }),
  }
  if (spec.fields) {
    shared.fields = Type.Optional(
      Type.String({ pattern: '^[A-Za-z_]+(,[A-Za-z_]+)*$', description: `Only these fields. Allowed: ${spec.fields.join(', ')}` }),
    )
  }
  if (spec.cursor) {
    shared.cursor = Type.Optional(
      Type.String({
        maxLength: 512,
        description: 'Keyset pagination: empty to start, then meta.nextCursor; pages carry nextCursor instead of total',
      }),
    )
  }
  return Type.Object({ ...shared, ...filters }, { additionalProperties: false }) as unknown as TObject<SharedListProps & F>
}

export interface SortKey {
  field: string
  desc: boolean
}

export interface ParsedList {
  limit: number
  offset: number
  page: number
  sort: SortKey[]
  fields?: string[]
  cursor?: unknown[]
}

interface RawList {
  limit?: number
  offset?: number
  page?: number
  sort?: string
  fields?: string
  cursor?: string
}

const invalid = (field: string, message: string) => withDetails(new ValidationError(`Invalid ${field}: ${message}`), [{ field, message }])

/** Validate the shared keys against the whitelist; unknown sort or field names are a 400. */
export function parseList(query: RawList, spec: ListSpec): ParsedList {
  const limit = query.limit ?? 20
  if (query.offset !== undefined && query.page !== undefined) throw invalid('page', 'use either page or offset, not both')
  const offset = query.offset ?? ((query.page ?? 1) - 1) * limit
  const page = Math.floor(offset / limit) + 1

  const sort: SortKey[] = []
  for (const raw of (query.sort ?? spec.defaultSort).split(',')) {
    const isDesc = raw.startsWith('-')
    const field = camel(isDesc ? raw.slice(1) : raw)
    if (!spec.sort.includes(field)) throw invalid('sort', `'${field}' is not sortable; allowed: ${spec.sort.join(', ')}`)
    if (sort.some((k) => k.field === field)) throw invalid('sort', `'${field}' is repeated`)
    sort.push({ field, desc: isDesc })
  }

  let fields: string[] | undefined
  if (query.fields && spec.fields) {
    fields = [...new Set(query.fields.split(',').map(camel))]
    // The id always comes back, so naming it (fields=id,name) is fine too.
    const unknown = fields.filter((f) => f !== 'id' && !spec.fields!.includes(f))
    if (unknown.length > 0) throw invalid('fields', `unknown field(s) ${unknown.join(', ')}; allowed: ${spec.fields.join(', ')}`)
  }

  let cursor: unknown[] | undefined
  if (query.cursor !== undefined) {
    if (query.offset !== undefined || query.page !== undefined) throw invalid('cursor', 'cannot be combined with page or offset')
    // An empty cursor starts a keyset walk at the first row; after that, meta.nextCursor leads on.
    cursor = query.cursor === '' ? [] : decodeCursor(query.cursor, sort.length + 1)
  }
  return { limit, offset: cursor ? 0 : offset, page: cursor ? 1 : page, sort, fields, cursor }
}

export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url')
}

function decodeCursor(cursor: string, length: number): unknown[] {
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(values) && values.length === length) return values
  } catch {
    // fall through to the validation error
  }
  throw invalid('cursor', 'malformed or from a different sort; start again without a cursor')
}

type Columns = Record<string, AnyColumn>

/** ORDER BY for the parsed sort, with the id as a tie-breaker so pages are stable. */
export function orderBy(sort: SortKey[], columns: Columns, id: AnyColumn): SQL[] {
  return [...sort.map((k) => (k.desc ? desc(columns[k.field]!) : asc(columns[k.field]!))), asc(id)]
}

/** WHERE for keyset pagination: rows strictly after the cursor's (sort values..., id). */
export function keysetWhere(sort: SortKey[], columns: Columns, id: AnyColumn, values: unknown[]): SQL | undefined {
  const keys = [...sort.map((k) => ({ col: columns[k.field]!, desc: k.desc })), { col: id, desc: false }]
  const branches = keys.map((key, i) => {
    const equalPrefix = keys.slice(0, i).map((k, j) => eq(k.col, values[j]))
    const after = key.desc ? lt(key.col, values[i]) : gt(key.col, values[i])
    return and(...equalPrefix, after)
  })
  // Every branch implies this bound on the first key; stated on its own, PostgreSQL can use it as an
  // index condition, so a deep cursor page starts at the cursor instead of filtering its way there.
  const first = keys[0]!
  const bound = first.desc ? lte(first.col, values[0]) : gte(first.col, values[0])
  return and(bound, or(...branches))
}

/** The cursor for the row after `last`, read with the same sort. */
export function nextCursor(sort: SortKey[], last: Record<string, unknown>, idField = 'id'): string {
  return encodeCursor([...sort.map((k) => serialise(last[k.field])), last[idField]])
}

const serialise = (v: unknown) => (v instanceof Date ? v.toISOString() : v)

/** Only the columns asked for (always including the id); all when no `fields`. */
export function pickColumns<C extends Columns>(columns: C, fields?: string[]): Partial<C> {
  if (!fields) return columns
  const picked: Partial<C> = {}
  for (const f of ['id', ...fields]) if (f in columns) (picked as Columns)[f] = columns[f]!
  return picked
}

export const pageMeta = (list: ParsedList, total?: number, cursor?: string | null): PageMeta => ({
  ...(total === undefined ? {} : { total }),
  page: list.page,
  limit: list.limit,
  offset: list.offset,
  ...(cursor === undefined ? {} : { nextCursor: cursor }),
})
