// A throwaway PostgreSQL server on a free port, for tests that really crash (SIGKILL) or freeze
// (SIGSTOP) the database under a running app. Never the shared one: each test gets its own cluster,
// copied from a template made once (initdb is the slow part), under .data/faults/ — or, as root in a
// clone the postgres user cannot enter (under /root, in a `mktemp -d` folder), where `npm start`
// would keep that folder's data instead (see reachableDataDir).
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { reachableDataDir, startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/dev/embedded-postgres.js'
import { projectRoot } from '../../src/lib/paths.js'
import { freePort } from './redis-server.js'
import { waitFor } from './wait.js'
import { isAlive } from '../../src/lib/processes.js'

const run = promisify(execFile)
type Test = { teardown: (fn: () => unknown) => void }

let root: Promise<string> | undefined
/** The folder the throwaway servers' data directories go in (one the postgres user can enter). */
export const faultsRoot = () => (root ??= reachableDataDir(join(projectRoot, '.data', 'faults')))

/** A fresh path (not created) under faultsRoot(), for a test's own data directories. */
export const scratchDir = async (prefix: string) => join(await faultsRoot(), `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`)

/** The installed PostgreSQL binaries' version (a data directory made by another version does not start). */
async function binariesVersion(): Promise<string> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`
  const { postgres } = (await import(pkg)) as { postgres: string }
  return (JSON.parse(await readFile(join(dirname(postgres), '..', '..', 'package.json'), 'utf8')) as { version: string }).version
}

/** An initialised data directory to copy (made by whichever test process comes first). */
async function template(): Promise<string> {
  const root = await faultsRoot()
  const dir = join(root, `template-${await binariesVersion()}`)
  if (existsSync(join(dir, 'PG_VERSION'))) return dir
  await mkdir(root, { recursive: true })
  const building = join(root, `template-${process.pid}-${randomBytes(3).toString('hex')}`)
  const pg = await startEmbeddedPostgres({ dir: building, port: await freePort(), database: 'postgres' })
  await pg.stop()
  await rename(building, dir).catch(() => rm(building, { recursive: true, force: true })) // lost the race: use theirs
  return dir
}

/** An initialised data directory at `dir` (a copy of the template; as root, owned by the postgres user). */
export async function copyTemplate(dir: string): Promise<void> {
  await run('cp', ['-a', await template(), dir])
}

export interface PostgresServer {
  port: number
  /** A URL to a database on this server. */
  url(database?: string): string
  /** Kill every process of the server at once (SIGKILL): a crash. Resolves with when (performance.now()). */
  crash(): Promise<number>
  /** Start it again on the same data and port (after a crash: with crash recovery). */
  restart(): Promise<void>
  /** Freeze every process of the server (SIGSTOP): connections stay open, nothing answers. Resolves with when. */
  freeze(): Promise<number>
  resume(): Promise<void>
}

/** The server's processes: the postmaster, then its children (each backend is a process group of its own). */
async function processes(postmaster: number): Promise<number[]> {
  const { stdout } = await run('pgrep', ['-P', String(postmaster)]).catch(() => ({ stdout: '' }))
  return [postmaster, ...stdout.split('\n').filter(Boolean).map(Number)]
}
const signal = (pids: number[], sig: NodeJS.Signals) => {
  for (const pid of pids) {
    try {
      process.kill(pid, sig)
    } catch {
      // already gone
    }
  }
}

/** A server of its own, stopped and removed in teardown. */
export async function startPostgres(t: Test): Promise<PostgresServer> {
  const dir = await scratchDir('pg')
  await copyTemplate(dir) // (cp -a keeps the owner: as root, the postgres user's)
  const port = await freePort()
  let pg: EmbeddedDatabase = await startEmbeddedPostgres({ dir, port, database: 'postgres' })
  let frozen = false
  t.teardown(async () => {
    if (frozen) signal(await processes(pg.pid), 'SIGCONT')
    await pg.stop()
    await rm(dir, { recursive: true, force: true })
  })
  return {
    port,
    url: (database = 'postgres') => pg.url.replace(/\/[^/]*$/, `/${database}`),
    async crash() {
      signal([pg.pid], 'SIGSTOP') // (no new backend from here on)
      const pids = await processes(pg.pid)
      const at = performance.now()
      signal(pids, 'SIGKILL')
      await waitFor(() => pids.every((pid) => !isAlive(pid)), { what: "the killed server's processes to be gone" })
      return at
    },
    async restart() {
      pg = await startEmbeddedPostgres({ dir, port, database: 'postgres' })
    },
    async freeze() {
      // The postmaster first (no new backend from here on), then every backend at once.
      const at = performance.now()
      signal([pg.pid], 'SIGSTOP')
      signal(await processes(pg.pid), 'SIGSTOP')
      frozen = true
      return at
    },
    async resume() {
      signal((await processes(pg.pid)).reverse(), 'SIGCONT')
      frozen = false
    },
  }
}
