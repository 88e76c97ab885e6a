// Emails' public contract: the shape of an email in the outbox. Other modules never call emails:
// they publish business events, and emails' subscribers (jobs.ts) queue what follows from them.
export type { Email } from './schemas.js'
