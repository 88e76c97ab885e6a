// The __name__ module's public contract: the only file other modules may import.
export type { __Item__ } from './schemas.js'
