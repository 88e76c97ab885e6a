// The list query language shared by every list route: limit/offset/page, sort, fields, cursor and
// the module's filters. `defineList` turns one declaration into the querystring schema (TypeBox, so
// OpenAPI documents it and `request.query` is typed) and a parser that checks what the schema cannot.
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox'
import { and, asc, desc, eq, gt, gte, lt, lte, or, type AnyColumn, type SQL } from 'drizzle-orm'
import { ValidationError, withDetails } from './errors.js'
import type { PageMeta } from './envelope.js'
import { INT4_MAX, SafeString, UUID_PATTERN } from './schemas.js'

/** What a sort key holds, so a cursor's values can be checked before they reach a query. */
export type SortKind = 'timestamp' | 'integer' | 'text' | 'uuid' | 'boolean'

export interface ListSpec<F extends TProperties = TProperties> {
  /** Sortable fields (camelCase) and their kind; snake_case spellings are accepted as aliases. */
  sort: Readonly<Record<string, SortKind>>
  /** Default sort, e.g. '-createdAt'. */
  defaultSort: string
  /** Fields a client may pick with `fields=`; omit to disable sparse fields. */
  fields?: readonly string[]
  /** Whether the route accepts keyset `cursor` pagination. */
  cursor?: boolean
  /** The module's filters: optional query parameters (TypeBox). */
  filters?: F
}

/** Offsets past this are refused (400): deep pages are what `cursor` is for. */
export const MAX_OFFSET = 100_000_000
const MAX_PAGE = 1_000_000

const camel = (s: string) => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

const sharedProperties = (spec: ListSpec) => {
  const sortable = Object.keys(spec.sort)
  return {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1..100' })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET, description: 'Rows to skip (alternative to page)' })),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, description: '1-based page number (alternative to offset)' })),
    sort: Type.Optional(
      Type.String({
        default: spec.defaultSort,
        pattern: '^-?[A-Za-z_]+(,-?[A-Za-z_]+)*$',
        maxLength: 200,
        description: `Comma-separated keys, '-' for descending. Allowed: ${sortable.join(', ')}`,
        examples: [spec.defaultSort],
      }),
    ),
    ...(spec.fields
      ? {
          fields: Type.Optional(
            Type.String({
              pattern: '^[A-Za-z_]+(,[A-Za-z_]+)*$',
              maxLength: 500,
              description: `Only these fields (the id always comes back). Allowed: ${spec.fields.join(', ')}`,
            }),
          ),
        }
      : {}),
    ...(spec.cursor
      ? {
          cursor: Type.Optional(
            SafeString({
              maxLength: 1024,
              description: 'Keyset pagination: empty to start, then meta.nextCursor; these pages carry nextCursor instead of total',
            }),
          ),
        }
      : {}),
  }
}
type SharedProperties = ReturnType<typeof sharedProperties>
const SHARED_KEYS = ['limit', 'offset', 'page', 'sort', 'fields', 'cursor'] as const

export interface SortKey {
  field: string
  desc: boolean
}

/** The validated paging part of a list query. */
export interface ParsedList {
  limit: number
  offset: number
  page: number
  sort: SortKey[]
  fields?: string[]
  /** Set for keyset pages: the cursor's values (sort keys..., id), typed; empty on the first page. */
  cursor?: unknown[]
}

export interface ListDefinition<F extends TProperties> {
  spec: ListSpec<F>
  /** The route's `querystring` schema. */
  query: TObject<SharedProperties & F>
  /** Split a validated query into the page request and the filters; unknown sort keys, fields or bad cursors are 400s. */
  parse(query: Static<TObject<SharedProperties & F>>): { list: ParsedList; filters: Static<TObject<F>> }
}

/** The filters type of a list definition. */
export type FiltersOf<L> = L extends ListDefinition<infer F> ? Static<TObject<F>> : never

export function defineList<F extends TProperties = Record<never, never>>(spec: ListSpec<F>): ListDefinition<F> {
  const query = Type.Object({ ...sharedProperties(spec), ...(spec.filters ?? ({} as F)) }, { additionalProperties: false }) as TObject<
    SharedProperties & F
  >
  return {
    spec,
    query,
    parse(raw) {
      const values = raw as Record<string, unknown>
      const filters: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(values)) {
        if (!(SHARED_KEYS as readonly string[]).includes(key) && value !== undefined) filters[key] = value
      }
      return { list: parseList(values as RawList, spec), filters: filters as Static<TObject<F>> }
    },
  }
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

function parseList(query: RawList, spec: ListSpec): ParsedList {
  const limit = query.limit ?? 20
  if (query.offset !== undefined && query.page !== undefined) throw invalid('page', 'use either page or offset, not both')
  const offset = query.offset ?? ((query.page ?? 1) - 1) * limit
  if (offset > MAX_OFFSET) throw invalid('page', `reaches past row ${MAX_OFFSET}; use cursor pagination for deep pages`)
  const page = Math.floor(offset / limit) + 1

  const sortable = Object.keys(spec.sort)
  const sort: SortKey[] = []
  for (const raw of (query.sort ?? spec.defaultSort).split(',')) {
    const isDesc = raw.startsWith('-')
    const field = camel(isDesc ? raw.slice(1) : raw)
    if (!sortable.includes(field)) throw invalid('sort', `'${field}' is not sortable; allowed: ${sortable.join(', ')}`)
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
    const kinds = [...sort.map((k) => spec.sort[k.field]!), 'uuid' as const]
    cursor = query.cursor === '' ? [] : decodeCursor(query.cursor, kinds)
  }
  return { limit, offset: cursor ? 0 : offset, page: cursor ? 1 : page, sort, fields, cursor }
}

export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url')
}

const uuid = new RegExp(UUID_PATTERN)
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/

/** A cursor value back to what its column holds; undefined when it cannot be one (a tampered cursor). */
function cursorValue(kind: SortKind, value: unknown): unknown {
  switch (kind) {
    case 'timestamp': {
      if (typeof value !== 'string' || !ISO_TIMESTAMP.test(value)) return undefined
      const date = new Date(value)
      return Number.isNaN(date.getTime()) ? undefined : date
    }
    case 'integer':
      return Number.isInteger(value) && Math.abs(value as number) <= INT4_MAX ? value : undefined
    case 'uuid':
      return typeof value === 'string' && uuid.test(value) ? value : undefined
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined
    case 'text':
      return typeof value === 'string' && value.length <= 10_000 && !value.includes('\u0000') ? value : undefined
  }
}

function decodeCursor(cursor: string, kinds: SortKind[]): unknown[] {
  let values: unknown
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    values = undefined
  }
  if (Array.isArray(values) && values.length === kinds.length) {
    const typed = values.map((v, i) => cursorValue(kinds[i]!, v))
    if (typed.every((v) => v !== undefined)) return typed
  }
  throw invalid('cursor', 'malformed or from a different sort; start again without a cursor')
}

type Columns = Record<string, AnyColumn>

/** ORDER BY for the parsed sort, with the id as a tie-breaker so pages are stable. */
export function orderBy(sort: SortKey[], columns: Columns, id: AnyColumn): SQL[] {
  return [...sort.map((k) => (k.desc ? desc(columns[k.field]!) : asc(columns[k.field]!))), asc(id)]
}

/** WHERE for keyset pagination: rows strictly after the cursor's (sort values..., id); undefined on the first page. */
export function keysetWhere(list: ParsedList, columns: Columns, id: AnyColumn): SQL | undefined {
  const values = list.cursor
  if (!values?.length) return undefined
  const keys = [...list.sort.map((k) => ({ col: columns[k.field]!, desc: k.desc })), { col: id, desc: false }]
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

const serialise = (v: unknown) => (v instanceof Date ? v.toISOString() : v)

/** Only the columns asked for (always the id, and the sort keys a cursor needs); all when no `fields`. */
export function pickColumns<C extends Columns>(columns: C, list: ParsedList): Partial<C> {
  if (!list.fields) return columns
  const picked: Partial<C> = {}
  for (const f of ['id', ...list.fields, ...list.sort.map((k) => k.field)]) if (f in columns) (picked as Columns)[f] = columns[f]!
  return picked
}

/**
 * A page from `limit + 1` rows (the extra row says whether there is a next page): the items, with
 * `fields=` applied, and the meta — `{total, page, limit, offset}` for offset pages,
 * `{page, limit, offset, nextCursor}` for keyset pages.
 */
export function toPage<R extends Record<string, unknown>, T>(
  rows: R[],
  list: ParsedList,
  toItem: (row: R) => T,
  total?: number,
): { items: T[]; meta: PageMeta } {
  const more = rows.length > list.limit
  const pageRows = more ? rows.slice(0, list.limit) : rows
  const keep = list.fields ? new Set(['id', ...list.fields]) : undefined
  const items = pageRows.map((row) => {
    const item = toItem(row) as Record<string, unknown>
    if (keep) for (const key of Object.keys(item)) if (!keep.has(key)) delete item[key]
    return item as T
  })
  const last = pageRows.at(-1)
  const nextCursor = list.cursor
    ? more && last
      ? encodeCursor([...list.sort.map((k) => serialise(last[k.field])), last.id])
      : null
    : undefined
  return { items, meta: pageMeta(list, list.cursor ? undefined : total, nextCursor) }
}

const pageMeta = (list: ParsedList, total?: number, cursor?: string | null): PageMeta => ({
  ...(total === undefined ? {} : { total }),
  page: list.page,
  limit: list.limit,
  offset: list.offset,
  ...(cursor === undefined ? {} : { nextCursor: cursor }),
})
