// Module discovery: every folder under modules/ with an index file is a module. Its files are
// registered in passes, like fastify/demo's autoload passes, so no central list needs an edit:
//   1. events.ts   — its business events, declared to app.events;
//   2. contract.ts — its default export, when it has one: a named fastify-plugin that decorates the
//                    contract on the root instance (contracts are sorted by their declared dependencies);
//   3. jobs.ts     — its queues, defined with app.jobs (they may use contracts);
//   4. index.ts    — its routes plugin, encapsulated under /api/v1/<folder> (not for ROLE=worker).
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import type { EventDefinition } from '../../plugins/events.js'
import type { ModuleJobs } from '../../plugins/queue/index.js'
import { codeExt, codeRoot } from '../lib/paths.js'
import { modulePath } from '../lib/urls.js'

export interface DiscoveredModule {
  name: string
  dir: string
  /** The module's optional files that exist. */
  has: (file: 'events' | 'contract' | 'jobs') => boolean
  file: (file: 'index' | 'events' | 'contract' | 'jobs') => string
}

export function discoverModules(root = join(codeRoot, 'modules')): DiscoveredModule[] {
  if (!existsSync(root)) return []
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, `index${codeExt}`)))
    .map((d) => {
      const dir = join(root, d.name)
      const file = (name: string) => join(dir, `${name}${codeExt}`)
      return { name: d.name, dir, file, has: (name: string) => existsSync(file(name)) }
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}

async function importModule<T>(file: string): Promise<T> {
  return (await import(pathToFileURL(file).href)) as T
}

type Meta = { name?: string; dependencies?: string[] }
const metaOf = (plugin: unknown): Meta => (plugin as Record<symbol, Meta | undefined>)[Symbol.for('plugin-meta')] ?? {}

/** Contract plugins in an order where each comes after the contracts it declares as dependencies. */
function sortByDependencies(plugins: { module: string; plugin: FastifyPluginAsync }[]) {
  const byName = new Map(plugins.map((p) => [metaOf(p.plugin).name ?? p.module, p]))
  const sorted: typeof plugins = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (name: string) => {
    const entry = byName.get(name)
    if (!entry || state.get(name) === 'done') return
    if (state.get(name) === 'visiting') throw new Error(`module contracts depend on each other in a cycle through ${name}`)
    state.set(name, 'visiting')
    for (const dep of metaOf(entry.plugin).dependencies ?? []) visit(dep)
    state.set(name, 'done')
    sorted.push(entry)
  }
  for (const name of byName.keys()) visit(name)
  return sorted
}

export async function registerModules(app: FastifyInstance, { routes = true, modules = discoverModules() } = {}): Promise<void> {
  for (const mod of modules.filter((m) => m.has('events'))) {
    const { default: events } = await importModule<{ default: EventDefinition[] }>(mod.file('events'))
    app.events.declare(...events)
  }

  const contracts: { module: string; plugin: FastifyPluginAsync }[] = []
  for (const mod of modules.filter((m) => m.has('contract'))) {
    const { default: plugin } = await importModule<{ default?: FastifyPluginAsync }>(mod.file('contract'))
    if (typeof plugin === 'function') contracts.push({ module: mod.name, plugin })
  }
  for (const { plugin } of sortByDependencies(contracts)) await app.register(plugin)

  for (const mod of modules.filter((m) => m.has('jobs'))) {
    const { default: jobs } = await importModule<{ default: ModuleJobs }>(mod.file('jobs'))
    for (const job of await jobs(app)) await app.jobs.define(job)
  }

  if (!routes) return
  for (const mod of modules) {
    const { default: plugin } = await importModule<{ default: FastifyPluginAsync }>(mod.file('index'))
    await app.register(plugin, { prefix: modulePath(mod.name) })
  }
}
