// SSRF guard: webhook targets must resolve only to public addresses. Checked when a subscription is
// created and again at connect time (a custom DNS lookup for the HTTP request), so a hostname that
// later resolves to a private address (DNS rebinding) is refused too. WEBHOOK_ALLOW_PRIVATE=true
// turns it off (local development and tests).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP } from 'node:net'

const blocked = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24], // documentation
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  blocked.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64 (embeds IPv4)
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const)
  blocked.addSubnet(net, prefix, 'ipv6')

/** True for loopback, private, link-local, unique-local and other non-public addresses. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 4) return blocked.check(address, 'ipv4')
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
    if (mapped) return blocked.check(mapped, 'ipv4')
    return blocked.check(address, 'ipv6')
  }
  return true // not an address at all: refuse
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1')

/** Every address the URL's host resolves to (the literal itself for an IP URL). */
export async function resolveHost(url: URL): Promise<string[]> {
  const host = hostOf(url)
  if (isIP(host)) return [host]
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true, verbatim: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))),
  )
  return addresses.map((a) => a.address)
}

/** Why the URL may not be used as a webhook target, or null when it may. */
export async function unsafeReason(url: URL): Promise<string | null> {
  let addresses: string[]
  try {
    addresses = await resolveHost(url)
  } catch {
    return `the host ${hostOf(url)} does not resolve`
  }
  const bad = addresses.find(isPrivateAddress)
  return bad ? `the host ${hostOf(url)} resolves to a non-public address (${bad})` : null
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** A `lookup` for http.request that refuses non-public addresses at connect time. */
export function guardedLookup(hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void {
  dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
    if (err) return callback(err, '')
    const bad = addresses.find((a) => isPrivateAddress(a.address))
    if (bad) {
      const refused = Object.assign(new Error(`refused to connect to non-public address ${bad.address} (${hostname})`), {
        code: 'EPRIVATEADDRESS',
      })
      return callback(refused, '')
    }
    if (options.all) return callback(null, addresses)
    const first = addresses[0]!
    return callback(null, first.address, first.family)
  })
}
