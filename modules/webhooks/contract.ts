// Webhooks' public contract: the shapes it shows. Nothing publishes through webhooks: modules publish
// business events (app.events.publish) and the webhooks subscriber (jobs.ts) fans them out.
export type { Webhook, Delivery } from './schemas.js'
