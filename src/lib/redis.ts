// Every Redis connection Keel opens comes from here: a single node (REDIS_URL), a Redis Cluster
// (REDIS_CLUSTER_NODES) or the master a group of sentinels names (REDIS_SENTINELS), each with the
// same fail-fast options: short timeouts, no offline queue (a command while disconnected fails at
// once, so callers fall back), reconnecting by itself.
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { list, type Config } from './config.js'

export type RedisClient = Redis | Cluster

export type RedisConfig = Pick<
  Config,
  'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_KEY_PREFIX' | 'REDIS_COMMAND_TIMEOUT_MS'
>

/** Which Redis the configuration names, if any. */
export const redisMode = (config: RedisConfig): 'cluster' | 'sentinel' | 'single' | undefined =>
  config.REDIS_CLUSTER_NODES ? 'cluster' : config.REDIS_SENTINELS ? 'sentinel' : config.REDIS_URL ? 'single' : undefined

/** "host:port,host:port" -> addresses */
const addresses = (value: string) =>
  list(value).map((entry) => {
    const i = entry.lastIndexOf(':')
    return { host: entry.slice(0, i), port: Number(entry.slice(i + 1)) }
  })

export interface RedisClientOptions {
  /** Send the commands of one event-loop tick in one write (per node, on a cluster). */
  enableAutoPipelining?: boolean
}

/** A new connection to the configured Redis (null when none is configured). The caller disconnects it. */
export function createRedisClient(config: RedisConfig, { enableAutoPipelining = false }: RedisClientOptions = {}): RedisClient | null {
  const mode = redisMode(config)
  if (!mode) return null
  const timeout = config.REDIS_COMMAND_TIMEOUT_MS
  const options: RedisOptions = {
    keyPrefix: config.REDIS_KEY_PREFIX,
    commandTimeout: timeout,
    connectTimeout: Math.max(1000, timeout * 4),
    maxRetriesPerRequest: 1,
    enableAutoPipelining,
  }
  const retry = (times: number) => Math.min(times * 200, 2000)
  if (mode === 'cluster') {
    return new Cluster(addresses(config.REDIS_CLUSTER_NODES!), {
      keyPrefix: config.REDIS_KEY_PREFIX,
      redisOptions: options,
      enableOfflineQueue: false,
      enableAutoPipelining,
      clusterRetryStrategy: retry,
      // While a master fails over, a command is retried on the new owner of its slot (not queued).
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
    })
  }
  const common = { ...options, enableOfflineQueue: false, retryStrategy: retry }
  if (mode === 'sentinel') {
    return new Redis({
      ...common,
      sentinels: addresses(config.REDIS_SENTINELS!),
      name: config.REDIS_SENTINEL_NAME,
      sentinelRetryStrategy: retry,
      // Reconnect as soon as a sentinel announces a new master, not when the old one's socket dies.
      failoverDetector: true,
    })
  }
  return new Redis(config.REDIS_URL!, common)
}
