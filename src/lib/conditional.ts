// Conditional requests (RFC 9110 §13): the If-Match / If-None-Match header schemas every resource
// shares, and how an ETag is compared against them.
import { Type } from '@sinclair/typebox'

export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'The ETag you read; a stale one answers 412 PRECONDITION_FAILED' })),
})
export const IfNoneMatchHeaders = Type.Object({
  'if-none-match': Type.Optional(Type.String({ description: 'An ETag you hold; 304 Not Modified while it is current' })),
})

const tagsOf = (header: string) =>
  header
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
const opaque = (tag: string) => tag.replace(/^W\//, '')

/** If-None-Match: true when the client's copy is current ('*', or any listed tag; weak comparison). */
export function isNotModified(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return tagsOf(header).some((tag) => opaque(tag) === opaque(etag))
}

/** If-Match: true when the write may go ahead (no header, '*', or the current tag listed; strong comparison). */
export function ifMatchAllows(header: string | undefined, etag: string): boolean {
  if (header === undefined || header.trim() === '*') return true
  return tagsOf(header).includes(etag)
}
