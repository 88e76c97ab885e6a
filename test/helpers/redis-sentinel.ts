// A throwaway Redis behind Sentinel on free ports: a master, a replica of it, and one sentinel
// watching them under `name` — for tests that connect through REDIS_SENTINELS and fail the master
// over (`SENTINEL FAILOVER`). stop() kills every process and removes the sentinel's folder.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, stopRedis } from './redis-server.js'
import { waitFor } from './wait.js'

export interface RedisSentinel {
  name: string
  /** The sentinel's address, for REDIS_SENTINELS. */
  sentinels: { host: string; port: number }[]
  /** The master's port as the sentinel names it now. */
  masterPort(): Promise<number>
  /** Promote the replica (SENTINEL FAILOVER) and wait until the sentinel names it; its port. */
  failover(): Promise<number>
  /** A client of one of the two servers (by port), disconnected at stop(). */
  server(port: number): Redis
  stop(): Promise<void>
}

const spawnRedis = (args: string[], cwd: string) => spawn('redis-server', args, { stdio: 'ignore', cwd })

export async function startRedisSentinel(name = 'keeltest'): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-redis-sentinel-'))
  const procs: ChildProcess[] = []
  const clients: Redis[] = []
  const client = (port: number) => {
    const c = new Redis(port, '127.0.0.1', { retryStrategy: () => 200, maxRetriesPerRequest: 1 })
    c.on('error', () => {})
    clients.push(c)
    return c
  }
  const stop = async () => {
    for (const c of clients) c.disconnect()
    await Promise.all(procs.map(stopRedis))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()]
    // (Each server keeps its files in the folder: a failover makes the old master sync as a replica.)
    procs.push(spawnRedis(['--port', String(masterPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], dir))
    const master = client(masterPort)
    await waitFor(async () => (await master.ping().catch(() => null)) === 'PONG', { what: 'the master to listen' })
    procs.push(
      spawnRedis(
        [
          '--port',
          String(replicaPort),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--replicaof',
          '127.0.0.1',
          String(masterPort),
          '--dir',
          dir,
        ],
        dir,
      ),
    )
    const replica = client(replicaPort)
    await waitFor(async () => (await replica.info('replication').catch(() => '')).includes('master_link_status:up'), {
      what: 'the replica to follow the master',
    })
    // (The sentinel finds the replica in the master's INFO: started after it is attached.)
    const conf = join(dir, 'sentinel.conf')
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 10000`,
        '',
      ].join('\n'),
    )
    procs.push(spawnRedis([conf, '--sentinel'], dir))
    const sentinel = client(sentinelPort)
    const current = async () => Number(((await sentinel.call('SENTINEL', 'get-master-addr-by-name', name)) as string[])[1])
    const replicas = async () => (await sentinel.call('SENTINEL', 'replicas', name).catch(() => [])) as string[][]
    await waitFor(async () => (await replicas()).some((r) => r.includes(String(replicaPort)) && r.join(' ').includes('slave')), {
      what: 'the sentinel to know the replica',
    })
    return {
      name,
      sentinels: [{ host: '127.0.0.1', port: sentinelPort }],
      masterPort: current,
      async failover() {
        const before = await current()
        await sentinel.call('SENTINEL', 'FAILOVER', name)
        await waitFor(async () => (await current()) !== before, { what: 'the sentinel to name a new master', timeoutMs: 30_000 })
        const after = await current()
        const promoted = client(after)
        await waitFor(async () => (await promoted.role().catch(() => []))[0] === 'master', { what: 'the new master to take writes' })
        return after
      },
      server: client,
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}
