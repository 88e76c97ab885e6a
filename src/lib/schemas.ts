// The TypeBox primitives every module's schemas are built from: ids, timestamps, emails, money,
// strings that refuse control characters, integers bounded by their column's range, and $ref to a
// named schema. One definition each, so a rule (no NUL bytes, no numbers past int4) holds everywhere.
import {
  FormatRegistry,
  Kind,
  Type,
  TypeRegistry,
  type NumberOptions,
  type SchemaOptions,
  type Static,
  type StringOptions,
  type TSchema,
} from '@sinclair/typebox'

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'

// Routes are validated by Fastify's Ajv (with ajv-formats); payloads checked with TypeBox's Value
// (events, jobs) need the same formats registered with TypeBox.
const uuid = new RegExp(UUID_PATTERN)
FormatRegistry.Set('uuid', (value) => uuid.test(value))
FormatRegistry.Set(
  'date-time',
  (value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value) && !Number.isNaN(Date.parse(value)),
)
FormatRegistry.Set('date', (value) => /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value)))
FormatRegistry.Set('email', (value) => /^[^\s@]+@[^\s@]+$/.test(value))
FormatRegistry.Set('uri', (value) => URL.canParse(value))

/** PostgreSQL `integer` (int4): the largest value a column of that type holds. */
export const INT4_MAX = 2_147_483_647

// Control characters (C0, DEL) make PostgreSQL refuse the text (NUL) or hide in logs and emails; a
// single-line string refuses them all, a text allows tab and line breaks.
const SINGLE_LINE = '^[^\\u0000-\\u001f\\u007f]*$'
const MULTI_LINE = '^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$'

/** A single-line string without control characters. */
export const SafeString = (options: StringOptions = {}) => Type.String({ pattern: SINGLE_LINE, ...options })

/** Free text: line breaks and tabs allowed, other control characters refused. */
export const SafeText = (options: StringOptions = {}) => Type.String({ pattern: MULTI_LINE, ...options })

/** A UUID (Keel's ids are UUIDv7). */
export const Id = (description?: string) =>
  Type.String({
    format: 'uuid',
    pattern: UUID_PATTERN,
    ...(description ? { description } : {}),
    examples: ['01936b8e-7c1a-7d2e-9f3a-5b6c7d8e9f01'],
  })

/** An ISO-8601 UTC timestamp. */
export const Timestamp = (description?: string) =>
  Type.String({ format: 'date-time', ...(description ? { description } : {}), examples: ['2026-11-29T10:15:00.000Z'] })

/** An email address (stored lowercased by the modules that keep them). */
export const Email = (options: StringOptions = {}) =>
  Type.String({ format: 'email', minLength: 3, maxLength: 254, pattern: SINGLE_LINE, examples: ['ada@example.com'], ...options })

/** An integer that fits a PostgreSQL `integer` column (and at least `minimum`, default 0). */
export const Int = (options: NumberOptions = {}) => Type.Integer({ minimum: 0, maximum: INT4_MAX, ...options })

/** Money in integer cents (an `integer` column: at most 21,474,836.47). */
export const Money = (description = 'Amount in integer cents') => Int({ description, examples: [4900] })

// TypeBox's own enumerations (`Type.Union` of literals, `Type.Enum`) are written as `anyOf` of
// one-value schemas: Swagger UI's "Try it out" then offers only the first value, and client
// generators make wrapper types. A kind of our own is one `enum`, checked by TypeBox's Value too.
TypeRegistry.Set<{ enum: readonly string[] }>('StringEnum', (schema, value) => typeof value === 'string' && schema.enum.includes(value))

/**
 * A closed set of strings: one `enum` in the schema (a drop-down in Swagger UI, an enum in generated
 * clients); its type is the union of the values.
 */
export const StringEnum = <const T extends readonly string[]>(values: T, options: SchemaOptions = {}) =>
  Type.Unsafe<T[number]>({ [Kind]: 'StringEnum', type: 'string', enum: [...values], ...options })

/** `T | null`. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/**
 * A `$ref` to a schema registered with `addSchema` (it has an `$id`): OpenAPI shows it as a named
 * component, and the type is the schema's own.
 */
export const Ref = <T extends TSchema & { $id?: string }>(schema: T) => {
  if (!schema.$id) throw new Error('Ref() needs a schema with an $id')
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id))
}
