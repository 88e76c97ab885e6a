// Conditional requests (RFC 9110 §13) over a resource's `version` column: the ETag it gives, the
// If-Match / If-None-Match header schemas every resource shares, and how they are read.
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ok } from './envelope.js'

export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({
      maxLength: 1000,
      description:
        'The ETag you read: the write applies only to that version (412 PRECONDITION_FAILED when it moved on). Without it, the write applies to the current version.',
      examples: ['"3"'],
    }),
  ),
})
export const IfNoneMatchHeaders = Type.Object({
  'if-none-match': Type.Optional(
    Type.String({ maxLength: 1000, description: 'An ETag you hold: 304 Not Modified while it is current', examples: ['"3"'] }),
  ),
})

/** The ETag response header's schema, for a route's response `headers`. */
export const EtagHeader = { etag: Type.String({ description: 'The resource version ("3"), for If-None-Match and If-Match' }) }

/** The 304 answer of a GET whose If-None-Match is current. */
export const NotModifiedResponse = Type.Null({ description: 'Not modified: your copy (If-None-Match) is current' })

/** The strong ETag of a version. */
export const etagOf = (version: number): string => `"${version}"`

const tagsOf = (header: string) =>
  header
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)

/**
 * The versions an If-Match header allows: undefined when there is no precondition (no header, or
 * `*` on an existing resource); an unparseable tag matches no version (so the write is refused).
 */
export function parseIfMatch(header: string | undefined): number[] | undefined {
  if (header === undefined || header.trim() === '*') return undefined
  return tagsOf(header).map((tag) => {
    const m = /^"(\d{1,10})"$/.exec(tag) // If-Match uses the strong comparison: a weak tag never matches
    return m ? Number(m[1]) : -1
  })
}

/** If-None-Match: true when the client's copy is current ('*', or any listed tag; weak comparison). */
export function isNotModified(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  const opaque = (tag: string) => tag.replace(/^W\//, '')
  return tagsOf(header).some((tag) => opaque(tag) === opaque(etag))
}

/**
 * Answer a GET of a single resource: its ETag (the version), and 304 with no body when If-None-Match
 * already holds it, else the envelope. Every single-resource GET answers through this.
 */
export function sendVersioned<T extends { version: number }>(request: FastifyRequest, reply: FastifyReply, resource: T) {
  const etag = etagOf(resource.version)
  reply.header('etag', etag)
  if (isNotModified(request.headers['if-none-match'], etag)) return reply.code(304).send(null)
  return ok(resource)
}
