// WHERE helpers shared by the repositories' list filters.
import { ilike, or, type AnyColumn, type SQL } from 'drizzle-orm'

/** `%`, `_` and `\` taken literally in a LIKE pattern. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`)

/** Case-insensitive "contains" on one column, or on any of several (the `q` filter). */
export function containsText(text: string, ...columns: AnyColumn[]): SQL | undefined {
  const pattern = `%${escapeLike(text)}%`
  return or(...columns.map((column) => ilike(column, pattern)))
}
