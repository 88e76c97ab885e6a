// A throwaway Redis Cluster of three masters (no replicas) on free ports, for tests that must run on
// a real cluster: keys spread over the nodes by slot, and a script or multi-key command naming keys
// of two slots is refused (CROSSSLOT). Each node keeps its cluster file in a temporary directory;
// stop() kills the nodes and removes it.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort, stopRedis } from './redis-server.js'
import { waitFor } from './wait.js'

export const hasRedisCluster = spawnSync('redis-server', ['--version']).status === 0 && spawnSync('redis-cli', ['--version']).status === 0

export interface RedisCluster {
  /** The masters' addresses, for `new Cluster(nodes)` (or REDIS_CLUSTER_NODES as host:port,...). */
  nodes: { host: string; port: number }[]
  stop(): Promise<void>
}

/** Distinct free ports (each node needs two: clients, and the cluster bus). */
async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>()
  while (ports.size < n) ports.add(await freePort())
  return [...ports]
}

/** Start `masters` cluster-enabled redis-servers, join them with `redis-cli --cluster create`, wait until the cluster is ok. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-redis-cluster-'))
  const ports = await freePorts(masters * 2)
  const nodes = ports.slice(0, masters).map((port) => ({ host: '127.0.0.1', port }))
  const procs: ChildProcess[] = []
  const stop = async () => {
    await Promise.all(procs.map(stopRedis))
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const [i, { port }] of nodes.entries()) {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(ports[masters + i])]
      args.push('--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, '--save', '', '--appendonly', 'no')
      procs.push(spawn('redis-server', args, { stdio: 'ignore' }))
    }
    const clients = nodes.map(({ port }) => new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 200 }))
    try {
      for (const client of clients) client.on('error', () => {}) // refused until the server listens
      await waitFor(async () => (await Promise.all(clients.map((c) => c.ping().catch(() => null)))).every((r) => r === 'PONG'), {
        what: 'the cluster nodes to listen',
      })
      const addresses = nodes.map(({ host, port }) => `${host}:${port}`)
      await promisify(execFile)('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'])
      await waitFor(
        async () => (await Promise.all(clients.map((c) => c.cluster('INFO')))).every((info) => info.includes('cluster_state:ok')),
        { what: 'the cluster to be ok on every node' },
      )
    } finally {
      for (const client of clients) client.disconnect()
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { nodes, stop }
}
