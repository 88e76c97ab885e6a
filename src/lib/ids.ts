// Time-ordered UUIDv7 ids: index-friendly and sortable by creation time.
import { uuidv7 } from 'uuidv7'

export const newId = (): string => uuidv7()
