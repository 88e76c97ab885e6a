// Time-ordered UUIDv7 ids: index-friendly and sortable by creation time.
import { uuidv7 } from 'uuidv7'

export const newId = (): string => uuidv7()
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
