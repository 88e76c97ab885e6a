// A PostgreSQL primary and a streaming hot-standby replica of the test's own (never the shared
// server): Debian's server binaries (initdb, pg_ctl, pg_basebackup -R), on free ports, in a folder
// the postgres user can enter (as root, both run as postgres: PostgreSQL refuses root).
import { execFile, spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { chown, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { freePort } from './redis-server.js'
import { faultsRoot, scratchDir } from './postgres-server.js'
import { waitFor } from './wait.js'

const run = promisify(execFile)
type Test = { teardown: (fn: () => unknown) => void }

/** Debian's newest PostgreSQL server binaries with pg_basebackup, or undefined. */
export function pgBinDir(): string | undefined {
  if (!existsSync('/usr/lib/postgresql')) return undefined
  return readdirSync('/usr/lib/postgresql')
    .filter((v) => existsSync(join('/usr/lib/postgresql', v, 'bin', 'pg_basebackup')))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => join('/usr/lib/postgresql', v, 'bin'))[0]
}
export const needsPgBinaries = pgBinDir() ? false : 'needs the PostgreSQL server binaries (apt-get install -y postgresql)'

export interface ReplicaPair {
  /** A URL to a database on the primary / the replica. */
  primaryUrl(database?: string): string
  replicaUrl(database?: string): string
  /** Stop the replica (pg_ctl stop -m fast) / start it again on the same data and port. */
  stopReplica(): Promise<void>
  startReplica(): Promise<void>
  /** Run SQL on the replica (e.g. `select pg_wal_replay_pause()`). */
  onReplica(query: string): Promise<unknown[]>
}

export async function startReplicaPair(t: Test): Promise<ReplicaPair> {
  const bin = pgBinDir()!
  const asPostgres = process.getuid?.() === 0
  const account = asPostgres
    ? {
        uid: Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout),
        gid: Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout),
      }
    : undefined
  const exec = (name: string, args: string[]) => run(join(bin, name), args, { ...(account ?? {}), cwd: '/' })
  const dir = await scratchDir('replica')
  await mkdir(await faultsRoot(), { recursive: true })
  await mkdir(dir, { mode: 0o700 })
  if (account) await chown(dir, account.uid, account.gid)
  const [primaryPort, replicaPort] = [await freePort(), await freePort()]
  const data = { primary: join(dir, 'primary'), replica: join(dir, 'replica') }
  const start = (which: 'primary' | 'replica', port: number) =>
    exec('pg_ctl', [
      '-D',
      data[which],
      '-l',
      join(dir, `${which}.log`),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ])
  const stop = (which: 'primary' | 'replica') => exec('pg_ctl', ['-D', data[which], '-m', 'fast', '-w', 'stop']).catch(() => {})

  t.teardown(async () => {
    await stop('replica')
    await stop('primary')
    await rm(dir, { recursive: true, force: true })
  })
  await exec('initdb', ['-D', data.primary, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C'])
  await start('primary', primaryPort)
  const url =
    (port: number) =>
    (database = 'keel') =>
      `postgres://postgres@127.0.0.1:${port}/${database}`
  const admin = postgres(url(primaryPort)('postgres'), { max: 1, onnotice: () => {} })
  await admin`create database keel`
  await admin.end()
  await exec('pg_basebackup', [
    '-h',
    '127.0.0.1',
    '-p',
    String(primaryPort),
    '-U',
    'postgres',
    '-D',
    data.replica,
    '-R',
    '-X',
    'stream',
    '--checkpoint=fast',
  ])
  await start('replica', replicaPort)

  const onReplica = async (query: string) => {
    const sql = postgres(url(replicaPort)(), { max: 1, onnotice: () => {} })
    try {
      return await sql.unsafe(query)
    } finally {
      await sql.end({ timeout: 1 })
    }
  }
  await waitFor(async () => (await onReplica('select pg_is_in_recovery() as r').catch(() => []))[0], {
    what: 'the replica to accept reads',
  })
  return {
    primaryUrl: url(primaryPort),
    replicaUrl: url(replicaPort),
    stopReplica: () => stop('replica').then(() => undefined),
    startReplica: () => start('replica', replicaPort).then(() => undefined),
    onReplica,
  }
}
