// Decorates the validated Config on the instance; nothing else reads process.env.
import fp from 'fastify-plugin'
import type { Config } from '../src/lib/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export default fp<{ config: Config }>(
  async (fastify, { config }) => {
    fastify.decorate('config', config)
  },
  { fastify: '5.x', name: 'config' },
)
