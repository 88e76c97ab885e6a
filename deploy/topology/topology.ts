// `npm run topology -- <command>`: Keel's production shape rehearsed on one machine, every part a
// local process on its own port under one folder (.topology/; no containers):
//
//   HAProxy ─▶ 3 API instances (ROLE=api) ─┬─▶ PgBouncer (transaction pooling) ─▶ primary ─▶ replica
//              2 workers (ROLE=worker) ────┤   DATABASE_DIRECT_URL: the primary, for sessions
//                                          └─▶ Redis Cluster: 3 masters, a replica each
//
// Commands: up | down | status | restart <api|name> | kill <name> | start <name> | pause-replay |
// resume-replay. `up` prints the endpoints as NAME=value lines and returns once everything is
// ready; the PIDs are kept in the folder's state.json, each process logs to logs/<name>.log.
// TOPOLOGY_PORT_BASE (default 17000) moves every port; TOPOLOGY_DIR moves the folder;
// TOPOLOGY_KEEL_<NAME>=value at `up` sets <NAME> for every Keel process (e.g. TOPOLOGY_KEEL_RATE_LIMIT_MAX).
import { execFile, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, openSync, readdirSync, readFileSync, statSync, closeSync } from 'node:fs'
import { chown, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { reachableDataDir } from '../../src/dev/embedded-postgres.js'
import { projectRoot } from '../../src/lib/paths.js'
import { isAlive } from '../../src/lib/processes.js'

const run = promisify(execFile)
const here = join(projectRoot, 'deploy', 'topology')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// --- Ports: one range of 26 from TOPOLOGY_PORT_BASE ---------------------------------------------
const BASE = Number(process.env.TOPOLOGY_PORT_BASE ?? 17000)
const port = {
  haproxy: BASE,
  stats: BASE + 1,
  api: (i: number) => BASE + 1 + i, // api-1..3: +2..+4
  worker: (i: number) => BASE + 4 + i, // worker-1..2: +5..+6
  primary: BASE + 7,
  replica: BASE + 8,
  pgbouncer: BASE + 9,
  redis: (i: number) => BASE + 9 + i, // redis-1..6: +10..+15
  redisBus: (i: number) => BASE + 19 + i, // +20..+25
}
const API_INSTANCES = 3
const WORKERS = 2
const REDIS_NODES = 6 // 3 masters, a replica each
/** PgBouncer's server connections per database (primary, replica): what PostgreSQL sees from the pooled side. */
const PGBOUNCER_POOL_SIZE = 20

const urls = {
  keel: `http://127.0.0.1:${port.haproxy}`,
  primary: `postgres://postgres@127.0.0.1:${port.primary}/keel`,
  replica: `postgres://postgres@127.0.0.1:${port.replica}/keel`,
  pooled: `postgres://postgres@127.0.0.1:${port.pgbouncer}/keel`,
  pooledReplica: `postgres://postgres@127.0.0.1:${port.pgbouncer}/keel_replica`,
  pgbouncerAdmin: `postgres://postgres@127.0.0.1:${port.pgbouncer}/pgbouncer`,
  redisNodes: Array.from({ length: REDIS_NODES }, (_, i) => `127.0.0.1:${port.redis(i + 1)}`),
  stats: `http://127.0.0.1:${port.stats}/stats`,
}

// --- The folder ---------------------------------------------------------------------------------
// As root, PostgreSQL and PgBouncer run as the `postgres` user, which must enter the folder: a clone
// it cannot reach (under /root, a mktemp -d folder) keeps the topology under /var/lib/keel instead.
const asked = process.env.TOPOLOGY_DIR ?? join(projectRoot, BASE === 17000 ? '.topology' : `.topology-${BASE}`)
const topologyDir = () => reachableDataDir(asked)

interface State {
  dir: string
  jwtSecret: string
  /** Settings given to every Keel process on top of keelEnv (from TOPOLOGY_KEEL_<NAME> at up). */
  keelOverrides: Record<string, string>
  /** name → pid of what is running now (removed when it is stopped). */
  pids: Record<string, number>
}
const statePath = (dir: string) => join(dir, 'state.json')
async function loadState(): Promise<State | undefined> {
  const dir = await topologyDir()
  if (!existsSync(statePath(dir))) return undefined
  try {
    return JSON.parse(await readFile(statePath(dir), 'utf8')) as State
  } catch {
    throw new Error(`${statePath(dir)} is unreadable: stop what it started by hand (see its logs), then remove ${dir}`)
  }
}
/** Written whole (a temporary file renamed over it), so a command killed meanwhile never leaves half a file. */
let saves = 0
async function saveState(state: State): Promise<void> {
  const partial = `${statePath(state.dir)}.${process.pid}-${++saves}.partial`
  await writeFile(partial, JSON.stringify(state, null, 2) + '\n')
  await rename(partial, statePath(state.dir))
}

// --- Binaries -----------------------------------------------------------------------------------
/** Debian's PostgreSQL server binaries (the newest installed), or TOPOLOGY_PG_BIN. */
function pgBin(name: string): string {
  const dir =
    process.env.TOPOLOGY_PG_BIN ??
    (existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql')
          .filter((v) => existsSync(join('/usr/lib/postgresql', v, 'bin', 'pg_basebackup')))
          .sort((a, b) => Number(b) - Number(a))
          .map((v) => join('/usr/lib/postgresql', v, 'bin'))[0]
      : undefined)
  if (!dir) throw new Error('needs the PostgreSQL server binaries: apt-get install -y postgresql (or set TOPOLOGY_PG_BIN)')
  return join(dir, name)
}

const has = (binary: string) =>
  spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0 || spawnSync(binary, ['-v'], { stdio: 'ignore' }).status === 0
/** What `up` needs besides Node and PostgreSQL; the topology tests skip with this message without it. */
export const missingBinaries = () => ['haproxy', 'pgbouncer', 'redis-server', 'redis-cli'].filter((b) => !has(b))

interface Account {
  uid: number
  gid: number
}
/** As root, the account PostgreSQL and PgBouncer run as (both refuse root). */
function serviceAccount(): Account | undefined {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout)
  return { uid: id('-u'), gid: id('-g') }
}

// --- Readiness probes ---------------------------------------------------------------------------
async function sqlReady(url: string, query = 'select 1'): Promise<boolean> {
  const sql = postgres(url, { max: 1, prepare: false, connect_timeout: 2, onnotice: () => {} })
  try {
    await sql.unsafe(query)
    return true
  } catch {
    return false
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** Sends one Redis command (inline protocol) and returns the raw reply. */
function redisCommand(p: number, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(p, '127.0.0.1')
    let reply = ''
    const timer = setTimeout(() => socket.destroy(new Error('timeout')), timeoutMs)
    socket.on('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (d) => {
      reply += d.toString()
      // A bulk string ($len) is complete once its body has arrived; any other reply is one line.
      const bulk = /^\$(\d+)\r\n/.exec(reply)
      if (bulk ? reply.length >= bulk[0].length + Number(bulk[1]) + 2 : reply.endsWith('\r\n')) {
        clearTimeout(timer)
        socket.end()
        resolve(reply)
      }
    })
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

async function httpStatus(url: string): Promise<number | undefined> {
  try {
    const res = await fetch(url, { headers: { connection: 'close' }, signal: AbortSignal.timeout(2000) })
    await res.body?.cancel()
    return res.status
  } catch {
    return undefined
  }
}

/** HAProxy's view of each API instance: name → UP / DOWN / ... (from its stats CSV). */
export async function balancerView(): Promise<Record<string, string>> {
  const res = await fetch(`${urls.stats};csv`, { signal: AbortSignal.timeout(2000) })
  const view: Record<string, string> = {}
  for (const line of (await res.text()).split('\n')) {
    const [proxy, server, ...rest] = line.split(',')
    if (proxy === 'api' && server?.startsWith('api-')) view[server] = rest[15]! // (the 18th column: status)
  }
  return view
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await sleep(200)
  }
}

// --- The processes: one table -------------------------------------------------------------------
interface Proc {
  name: string
  /** The binary and its arguments. */
  command: (dir: string) => [string, string[]]
  /** Runs as the postgres user when started as root. */
  asPostgres?: boolean
  env?: (state: State) => Record<string, string>
  /** The signal that stops it cleanly (SIGTERM unless said). */
  stopSignal?: NodeJS.Signals
  ready: () => Promise<boolean>
  port: number
}

/** What every Keel process gets (the settings the README's scaling section lists). */
const keelEnv = (state: State): Record<string, string> => ({
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  JWT_SECRET: state.jwtSecret,
  DATABASE_URL: urls.pooled,
  DATABASE_DIRECT_URL: urls.primary,
  DATABASE_READ_URL: urls.pooledReplica,
  DB_PREPARE: 'false',
  REDIS_CLUSTER_NODES: urls.redisNodes.join(','),
  TRUST_PROXY: '127.0.0.1',
  // Longer than HAProxy takes to see two failed checks 500 ms apart.
  SHUTDOWN_DRAIN_DELAY_MS: '2000',
  LOG_LEVEL: 'info',
  ...state.keelOverrides,
})

const node = (entry: string) => (): [string, string[]] => [process.execPath, [join(projectRoot, 'dist', 'src', 'app', entry)]]
const postgresArgs = (p: number) => ['-p', String(p), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=']

const processes: Proc[] = [
  {
    name: 'primary',
    command: (dir) => [pgBin('postgres'), ['-D', join(dir, 'primary'), ...postgresArgs(port.primary)]],
    asPostgres: true,
    stopSignal: 'SIGINT', // fast shutdown
    ready: () => sqlReady(urls.primary.replace(/\/keel$/, '/postgres')),
    port: port.primary,
  },
  {
    name: 'replica',
    command: (dir) => [pgBin('postgres'), ['-D', join(dir, 'replica'), ...postgresArgs(port.replica)]],
    asPostgres: true,
    stopSignal: 'SIGINT',
    ready: () => sqlReady(urls.replica, 'select 1 where pg_is_in_recovery()').then(async (up) => up && (await replicaStreaming())),
    port: port.replica,
  },
  {
    name: 'pgbouncer',
    command: (dir) => ['pgbouncer', [join(dir, 'pgbouncer.ini')]],
    asPostgres: true,
    ready: () => sqlReady(urls.pooled),
    port: port.pgbouncer,
  },
  ...Array.from({ length: REDIS_NODES }, (_, i): Proc => ({
    name: `redis-${i + 1}`,
    command: (dir) => ['redis-server', [join(dir, `redis-${i + 1}`, 'redis.conf')]],
    ready: async () => (await redisCommand(port.redis(i + 1), 'PING')).startsWith('+PONG'),
    port: port.redis(i + 1),
  })),
  ...Array.from({ length: API_INSTANCES }, (_, i): Proc => ({
    name: `api-${i + 1}`,
    command: node('server.js'),
    env: (state) => ({ ...keelEnv(state), ROLE: 'api', PORT: String(port.api(i + 1)) }),
    ready: async () => (await httpStatus(`http://127.0.0.1:${port.api(i + 1)}/health/ready`)) === 200,
    port: port.api(i + 1),
  })),
  ...Array.from({ length: WORKERS }, (_, i): Proc => ({
    name: `worker-${i + 1}`,
    command: node('worker.js'),
    env: (state) => ({ ...keelEnv(state), ROLE: 'worker', PORT: String(port.worker(i + 1)) }),
    ready: async () => (await httpStatus(`http://127.0.0.1:${port.worker(i + 1)}/health/ready`)) === 200,
    port: port.worker(i + 1),
  })),
  {
    name: 'haproxy',
    command: (dir) => ['haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')]],
    ready: async () => Object.values(await balancerView()).filter((s) => s === 'UP').length === API_INSTANCES,
    port: port.haproxy,
  },
]
const apiNames = processes.filter((p) => p.name.startsWith('api-')).map((p) => p.name)

async function replicaStreaming(): Promise<boolean> {
  const sql = postgres(urls.primary, { max: 1, prepare: false, connect_timeout: 2, onnotice: () => {} })
  try {
    return (await sql`select 1 from pg_stat_replication where state = 'streaming'`).length > 0
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** The pid is still the process we started (not a reused pid): its command line names our binary. */
function ours(pid: number, proc: Proc, dir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return cmdline.includes(proc.command(dir)[0].split('/').pop()!)
  } catch {
    return isAlive(pid) // (no /proc: trust the pid)
  }
}

function find(name: string): Proc {
  const proc = processes.find((p) => p.name === name)
  if (!proc) throw new Error(`no process named ${name}: one of ${processes.map((p) => p.name).join(', ')}, redis-master-N, redis-replica-N`)
  return proc
}

/** redis-master-N / redis-replica-N: the node that is now the Nth master (by its first slot) or that master's replica. */
async function resolveName(name: string): Promise<Proc> {
  const m = /^redis-(master|replica)-(\d+)$/.exec(name)
  if (!m) return find(name)
  const nodes = await clusterNodes()
  const masters = nodes.filter((n) => n.master && n.connected && n.firstSlot !== undefined).sort((a, b) => a.firstSlot! - b.firstSlot!)
  const master = masters[Number(m[2]) - 1]
  if (!master) throw new Error(`there is no master number ${m[2]} (${masters.length} masters up)`)
  const node = m[1] === 'master' ? master : nodes.find((n) => n.masterId === master.id && n.connected)
  if (!node) throw new Error(`master ${m[2]} has no connected replica`)
  return find(`redis-${urls.redisNodes.indexOf(`127.0.0.1:${node.port}`) + 1}`)
}

interface ClusterNode {
  id: string
  port: number
  master: boolean
  masterId?: string
  connected: boolean
  firstSlot?: number
}
async function clusterNodes(): Promise<ClusterNode[]> {
  for (const address of urls.redisNodes) {
    const reply = await redisCommand(Number(address.split(':')[1]), 'CLUSTER NODES').catch(() => undefined)
    if (!reply?.startsWith('$')) continue
    return reply
      .split(/\r?\n/)
      .slice(1)
      .filter((l) => l.includes(':'))
      .map((line) => {
        const [id, addr, flags, masterId, , , , link, slots] = line.split(' ')
        return {
          id: id!,
          port: Number(addr!.split('@')[0]!.split(':')[1]),
          master: flags!.includes('master'),
          masterId: masterId === '-' ? undefined : masterId,
          connected: link === 'connected' && !flags!.includes('fail'),
          firstSlot: slots ? Number(slots.split('-')[0]) : undefined,
        }
      })
  }
  throw new Error('no Redis node answers CLUSTER NODES')
}

// --- Starting and stopping one process ----------------------------------------------------------
async function startProcess(state: State, proc: Proc, { wait = true } = {}): Promise<void> {
  const running = state.pids[proc.name]
  if (running && isAlive(running) && ours(running, proc, state.dir)) throw new Error(`${proc.name} is already running (pid ${running})`)
  const [binary, args] = proc.command(state.dir)
  const account = proc.asPostgres ? serviceAccount() : undefined
  const log = openSync(join(state.dir, 'logs', `${proc.name}.log`), 'a')
  // A process group of its own, detached: it outlives this command; its output goes to its log.
  const child = spawn(binary, args, {
    cwd: projectRoot,
    detached: true,
    stdio: ['ignore', log, log],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LC_MESSAGES: 'C', ...proc.env?.(state) },
    ...(account ?? {}),
  })
  closeSync(log)
  child.unref()
  state.pids[proc.name] = child.pid!
  await saveState(state)
  if (wait) await waitReady(state, proc)
}

const startedAt = Date.now()
/** Progress on stderr (stdout carries only the NAME=value lines). */
const progress = (what: string) => console.error(`[${((Date.now() - startedAt) / 1000).toFixed(1)} s] ${what}`)

async function waitReady(state: State, proc: Proc, timeoutMs = 90_000): Promise<void> {
  const since = Date.now()
  await waitUntil(
    `${proc.name} to be ready (its log: ${join(state.dir, 'logs', `${proc.name}.log`)})`,
    async () => {
      const pid = state.pids[proc.name]
      if (!pid || !isAlive(pid)) throw new Error(`${proc.name} exited at start; its log:\n${tail(state, proc.name)}`)
      return proc.ready()
    },
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(err.message.includes('its log:\n') ? err.message : `${err.message}\n${tail(state, proc.name)}`)
  })
  progress(`${proc.name} ready (${((Date.now() - since) / 1000).toFixed(1)} s)`)
}

const tail = (state: State, name: string) => {
  try {
    return readFileSync(join(state.dir, 'logs', `${name}.log`), 'utf8')
      .split('\n')
      .slice(-15)
      .join('\n')
  } catch {
    return '(no log)'
  }
}

/** Stop one process (its clean signal, or SIGKILL), wait until it has exited, forget its pid. */
async function stopProcess(
  state: State,
  proc: Proc,
  signal: NodeJS.Signals = proc.stopSignal ?? 'SIGTERM',
  timeoutMs = 30_000,
): Promise<void> {
  const pid = state.pids[proc.name]
  if (pid && isAlive(pid) && ours(pid, proc, state.dir)) {
    process.kill(pid, signal)
    const deadline = Date.now() + timeoutMs
    while (isAlive(pid) && Date.now() < deadline) await sleep(50)
    if (isAlive(pid)) process.kill(pid, 'SIGKILL')
    while (isAlive(pid)) await sleep(50)
  }
  delete state.pids[proc.name]
  await saveState(state)
}

// --- Configuration files -------------------------------------------------------------------------
const render = async (template: string, target: string, values: Record<string, string | number>) => {
  const text = (await readFile(join(here, template), 'utf8')).replace(/\$\{(\w+)\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`${template}: no value for \${${key}}`)
    return String(values[key])
  })
  await writeFile(target, text, { mode: 0o644 })
}

async function writeConfigs(dir: string): Promise<void> {
  await render('haproxy.cfg', join(dir, 'haproxy.cfg'), {
    HAPROXY_PORT: port.haproxy,
    STATS_PORT: port.stats,
    API_SERVERS: Array.from({ length: API_INSTANCES }, (_, i) => `    server api-${i + 1} 127.0.0.1:${port.api(i + 1)}`).join('\n'),
  })
  await writeFile(join(dir, 'pgbouncer-users.txt'), '"postgres" ""\n', { mode: 0o644 })
  await render('pgbouncer.ini', join(dir, 'pgbouncer.ini'), {
    DIR: dir,
    PRIMARY_PORT: port.primary,
    REPLICA_PORT: port.replica,
    PGBOUNCER_PORT: port.pgbouncer,
    PGBOUNCER_POOL_SIZE,
  })
  for (let i = 1; i <= REDIS_NODES; i++) {
    const nodeDir = join(dir, `redis-${i}`)
    await mkdir(nodeDir, { recursive: true })
    await render('redis.conf', join(nodeDir, 'redis.conf'), { PORT: port.redis(i), BUS_PORT: port.redisBus(i), DIR: nodeDir })
  }
}

/** Runs a binary (as the postgres user when root) and fails with its output. */
async function exec(binary: string, args: string[], asPostgres = false): Promise<void> {
  const account = asPostgres ? serviceAccount() : undefined
  const result = spawnSync(binary, args, { encoding: 'utf8', env: { ...process.env, LC_MESSAGES: 'C' }, ...(account ?? {}) })
  if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed (${result.status}):\n${result.stdout}${result.stderr}`)
}

const portFree = (p: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection(p, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })

/** Builds dist/ when it is missing or older than a source file. */
async function ensureBuilt(): Promise<void> {
  const entry = join(projectRoot, 'dist', 'src', 'app', 'server.js')
  const builtAt = existsSync(entry) ? statSync(entry).mtimeMs : 0
  const newer = (folder: string): boolean =>
    readdirSync(join(projectRoot, folder), { recursive: true, encoding: 'utf8' }).some(
      (f) => (f.endsWith('.ts') || f.endsWith('.sql')) && statSync(join(projectRoot, folder, f)).mtimeMs > builtAt,
    )
  if (builtAt && !['src', 'plugins', 'modules', 'drizzle'].some(newer)) return
  console.error('building dist/ (npm run build)...')
  await run('npm', ['run', 'build'], { cwd: projectRoot })
}

// --- Commands -----------------------------------------------------------------------------------
export function endpoints(): Record<string, string> {
  return {
    KEEL_URL: urls.keel,
    API_URLS: Array.from({ length: API_INSTANCES }, (_, i) => `http://127.0.0.1:${port.api(i + 1)}`).join(','),
    WORKER_URLS: Array.from({ length: WORKERS }, (_, i) => `http://127.0.0.1:${port.worker(i + 1)}`).join(','),
    DATABASE_URL: urls.primary,
    DATABASE_POOLED_URL: urls.pooled,
    DATABASE_READ_URL: urls.pooledReplica,
    DATABASE_REPLICA_URL: urls.replica,
    PGBOUNCER_ADMIN_URL: urls.pgbouncerAdmin,
    REDIS_CLUSTER_NODES: urls.redisNodes.join(','),
    HAPROXY_STATS_URL: urls.stats,
    TOPOLOGY_DIR: '', // (filled in by up)
  }
}

async function up(): Promise<void> {
  const missing = missingBinaries()
  if (missing.length) throw new Error(`needs ${missing.join(', ')}: apt-get install -y haproxy pgbouncer redis-server`)
  if (await loadState()) throw new Error('the topology is already up (npm run topology -- down first)')
  const all = [port.stats, ...processes.map((p) => p.port), ...Array.from({ length: REDIS_NODES }, (_, i) => port.redisBus(i + 1))]
  const taken = (await Promise.all(all.map(async (p) => ((await portFree(p)) ? undefined : p)))).filter(Boolean)
  if (taken.length) throw new Error(`ports in use: ${taken.join(', ')} (TOPOLOGY_PORT_BASE chooses another range of 26)`)
  await ensureBuilt()

  const dir = await topologyDir()
  await rm(dir, { recursive: true, force: true }) // (what a failed up left to read)
  await mkdir(join(dir, 'logs'), { recursive: true, mode: 0o755 })
  const keelOverrides = Object.fromEntries(
    Object.entries(process.env)
      .filter(([key]) => key.startsWith('TOPOLOGY_KEEL_'))
      .map(([key, value]) => [key.slice('TOPOLOGY_KEEL_'.length), value ?? '']),
  )
  const state: State = { dir, jwtSecret: randomBytes(32).toString('hex'), keelOverrides, pids: {} }
  await saveState(state)
  try {
    await writeConfigs(dir)
    // The primary: a fresh cluster (trust on 127.0.0.1, replication included), then the database.
    const account = serviceAccount()
    for (const sub of ['primary', 'replica']) {
      await mkdir(join(dir, sub), { mode: 0o700 })
      if (account) await chown(join(dir, sub), account.uid, account.gid)
    }
    await exec(pgBin('initdb'), ['-D', join(dir, 'primary'), '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C'], true)
    await startProcess(state, find('primary'))
    const admin = postgres(urls.primary.replace(/\/keel$/, '/postgres'), { max: 1, onnotice: () => {} })
    await admin`create database keel`
    await admin.end()
    // The replica: a base backup of the primary that streams from it (-R writes primary_conninfo).
    await exec(
      pgBin('pg_basebackup'),
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(port.primary),
        '-U',
        'postgres',
        '-D',
        join(dir, 'replica'),
        '-R',
        '-X',
        'stream',
        '--checkpoint=fast',
      ],
      true,
    )
    await startProcess(state, find('replica'))
    await startProcess(state, find('pgbouncer'))

    // The Redis Cluster: six empty nodes, joined as 3 masters with a replica each.
    const redis = processes.filter((p) => p.name.startsWith('redis-'))
    await Promise.all(redis.map((p) => startProcess(state, p, { wait: false })))
    await Promise.all(redis.map((p) => waitReady(state, p)))
    await run('redis-cli', ['--cluster', 'create', ...urls.redisNodes, '--cluster-replicas', '1', '--cluster-yes'])
    await waitUntil('the Redis Cluster to be ok with a replica per master', async () => {
      const infos = await Promise.all(redis.map((p) => redisCommand(p.port, 'CLUSTER INFO')))
      const nodes = await clusterNodes()
      return infos.every((i) => i.includes('cluster_state:ok')) && nodes.filter((n) => !n.master && n.connected).length === REDIS_NODES / 2
    })

    // Keel: every instance and worker at once (migrations run once, under their lock), then HAProxy.
    const keel = processes.filter((p) => p.name.startsWith('api-') || p.name.startsWith('worker-'))
    await Promise.all(keel.map((p) => startProcess(state, p, { wait: false })))
    await Promise.all(keel.map((p) => waitReady(state, p)))
    await startProcess(state, find('haproxy'))
  } catch (err) {
    console.error(`up failed: stopping what was started (the logs stay in ${join(dir, 'logs')})`)
    await stopAll(state, { keepFolder: true })
    throw err
  }
  for (const [key, value] of Object.entries({ ...endpoints(), TOPOLOGY_DIR: dir })) console.log(`${key}=${value}`)
}

async function stopAll(state: State, { keepFolder = false } = {}): Promise<void> {
  // The reverse of the start order: the balancer first, the databases last.
  for (const proc of [...processes].reverse()) await stopProcess(state, proc, proc.stopSignal ?? 'SIGTERM', 15_000)
  if (keepFolder)
    await rm(statePath(state.dir), { force: true }) // (the logs stay, to read)
  else await rm(state.dir, { recursive: true, force: true })
}

async function down(): Promise<void> {
  const state = await loadState()
  if (!state) {
    await rm(await topologyDir(), { recursive: true, force: true })
    console.log('the topology is not up')
    return
  }
  await stopAll(state)
  console.log(`stopped; removed ${state.dir}`)
}

async function requireState(): Promise<State> {
  const state = await loadState()
  if (!state) throw new Error('the topology is not up (npm run topology -- up)')
  return state
}

async function status(): Promise<void> {
  const state = await requireState()
  const view = await balancerView().catch(() => ({}) as Record<string, string>)
  const nodes = await clusterNodes().catch(() => [] as ClusterNode[])
  const rows = await Promise.all(
    processes.map(async (proc) => {
      const pid = state.pids[proc.name]
      const running = pid !== undefined && isAlive(pid) && ours(pid, proc, state.dir)
      const ready = running && (await proc.ready().catch(() => false))
      let note = ''
      if (proc.name.startsWith('api-')) note = `balancer: ${(view as Record<string, string>)[proc.name] ?? '?'}`
      if (proc.name.startsWith('redis-') && running) {
        const n = nodes.find((x) => x.port === proc.port)
        note = n ? (n.master ? 'master' : 'replica') : ''
      }
      if (proc.name === 'replica' && ready) note = (await replayPaused()) ? 'replay paused' : 'replaying'
      return [proc.name, running ? String(pid) : '-', String(proc.port), running ? (ready ? 'ready' : 'not ready') : 'stopped', note]
    }),
  )
  const widths = [12, 8, 6, 10]
  console.log(['name', 'pid', 'port', 'state', ''].map((c, i) => c.padEnd(widths[i] ?? 0)).join(' '))
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' '))
  console.log(`folder: ${state.dir}`)
}

async function replayPaused(): Promise<boolean> {
  const sql = postgres(urls.replica, { max: 1, prepare: false, onnotice: () => {} })
  try {
    const [row] = await sql<{ paused: boolean }[]>`select pg_is_wal_replay_paused() as paused`
    return row!.paused
  } finally {
    await sql.end({ timeout: 1 })
  }
}

async function setReplay(pause: boolean): Promise<void> {
  await requireState()
  const sql = postgres(urls.replica, { max: 1, prepare: false, onnotice: () => {} })
  try {
    await sql.unsafe(pause ? 'select pg_wal_replay_pause()' : 'select pg_wal_replay_resume()')
  } finally {
    await sql.end({ timeout: 1 })
  }
  console.log(pause ? 'replay on the replica paused' : 'replay on the replica resumed')
}

/** SIGTERM one instance (readiness 503, HAProxy drains it), wait for its exit, start it, wait until HAProxy sends to it; then the next. */
async function rollingRestart(state: State): Promise<void> {
  for (const name of apiNames) {
    const proc = find(name)
    const started = Date.now()
    await stopProcess(state, proc, 'SIGTERM')
    await startProcess(state, proc)
    await waitUntil(`HAProxy to send to ${name} again`, async () => (await balancerView())[name] === 'UP')
    console.log(`${name} restarted (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, name] = argv
  switch (command) {
    case 'up':
      return up()
    case 'down':
      return down()
    case 'status':
      return status()
    case 'restart': {
      const state = await requireState()
      if (name === 'api') return rollingRestart(state)
      const proc = await resolveName(name ?? '')
      await stopProcess(state, proc)
      await startProcess(state, proc)
      return console.log(`${proc.name} restarted`)
    }
    case 'kill': {
      const state = await requireState()
      const proc = await resolveName(name ?? '')
      await stopProcess(state, proc, 'SIGKILL')
      return console.log(`${proc.name} killed`)
    }
    case 'stop': {
      const state = await requireState()
      const proc = await resolveName(name ?? '')
      await stopProcess(state, proc)
      return console.log(`${proc.name} stopped`)
    }
    case 'start': {
      const state = await requireState()
      const proc = find(name ?? '')
      await startProcess(state, proc)
      return console.log(`${proc.name} started`)
    }
    case 'pause-replay':
      return setReplay(true)
    case 'resume-replay':
      return setReplay(false)
    case 'env':
      for (const [key, value] of Object.entries({ ...endpoints(), TOPOLOGY_DIR: (await requireState()).dir }))
        console.log(`${key}=${value}`)
      return
    default:
      console.error(`usage: npm run topology -- up | down | status | env | restart <api|name> | kill <name> | stop <name> | start <name> | pause-replay | resume-replay
names: ${processes.map((p) => p.name).join(', ')}; redis-master-N / redis-replica-N name the node that is master N now (or its replica)`)
      process.exitCode = 2
  }
}

// Run as a command (not when imported: the tests import missingBinaries).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: Error) => {
    console.error(err.message)
    process.exit(1)
  })
}
