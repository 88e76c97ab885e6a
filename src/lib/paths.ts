// Paths that work both from the TypeScript sources and from the compiled dist/ tree.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot(start: string): string {
  let dir = start
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error(`package.json not found above ${start}`)
    dir = parent
  }
  return dir
}

const here = dirname(fileURLToPath(import.meta.url))
/** The project root (where package.json, drizzle/ and openapi.yaml live). */
export const projectRoot = findRoot(here)
/** The folder holding the running code's modules/ (sources, or dist/ once compiled). */
export const codeRoot = join(here, '..', '..')
/** '.ts' when running from sources (tsx), '.js' when compiled. */
export const codeExt = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
