// Module discovery: every folder under modules/ with an index file is a module, mounted at
// /api/v1/<folder>. Its optional jobs file is found the same way. No central list to edit.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { codeExt, codeRoot } from './lib/paths.js'

export interface DiscoveredModule {
  name: string
  index: string
  jobs?: string
}

export function discoverModules(root = join(codeRoot, 'modules')): DiscoveredModule[] {
  if (!existsSync(root)) return []
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, `index${codeExt}`)))
    .map((d) => {
      const jobs = join(root, d.name, `jobs${codeExt}`)
      return { name: d.name, index: join(root, d.name, `index${codeExt}`), ...(existsSync(jobs) ? { jobs } : {}) }
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}

export async function importDefault<T>(file: string): Promise<T> {
  const mod = (await import(pathToFileURL(file).href)) as { default: T }
  return mod.default
}
