// The __name__ module. Encapsulated: its schemas and routes stay in its own context; it decorates
// nothing on the root. Mounted at /api/v1/__name__ by module discovery (src/app/modules.ts).
import fp from 'fastify-plugin'
import { create__Item__Repository } from './repository.js'
import { __camel__Routes } from './routes.js'
import { __camel__Schemas } from './schemas.js'
import { create__Item__Service } from './service.js'

export default fp(
  async (app) => {
    for (const schema of __camel__Schemas) app.addSchema(schema)
    const service = create__Item__Service({ db: app.db, dbRead: app.dbRead, cache: app.cache, events: app.events, repo: create__Item__Repository() })
    __camel__Routes(app, service)
  },
  { fastify: '5.x', name: '__name__-module', dependencies: ['auth', 'cache', 'events'], encapsulate: true },
)
