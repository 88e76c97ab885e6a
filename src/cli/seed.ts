// Demo data for the embedded default, written on first start only. (Filled in by the modules that own the data.)
import type { FastifyInstance } from 'fastify'

export async function seedDemoData(app: FastifyInstance): Promise<void> {
  app.log.debug('no demo data to seed yet')
}
