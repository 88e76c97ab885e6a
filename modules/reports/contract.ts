// Reports' public contract: the report shape (other modules have no reason to build reports).
export type { Report } from './schemas.js'
