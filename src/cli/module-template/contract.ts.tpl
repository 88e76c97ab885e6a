// __Name__: the only file other modules may import — its shape and its events (for subscribers).
// When other modules need to call __name__, add `create__Name__Contract(app)` and a default-exported
// contract plugin that decorates it once (see modules/products/contract.ts).
export type { __Item__ } from './schemas.js'
export { __camel__Created, __camel__Updated, __camel__Deleted } from './events.js'
