// SSRF guard: webhook targets must resolve only to public addresses. Checked when a subscription is
// created and again at connect time (a custom DNS lookup for the HTTP request), so a hostname that
// later resolves to a private address (DNS rebinding) is refused too. WEBHOOK_ALLOW_PRIVATE=true
// lifts it for local development and tests — except for cloud metadata endpoints, never a receiver.
// Refusals never say what a host resolves to: that would map a private network for the caller.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP } from 'node:net'

// IPv4 rules also match IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, in any spelling): BlockList
// compares the embedded address, so a mapped public address stays usable and a mapped private one is not.
const IPV4_NON_PUBLIC: [network: string, prefix: number][] = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
]

// Every IPv6 form that embeds or tunnels an IPv4 address (other than the mapped one above) is refused
// whole: it is a way to reach an IPv4 host past the IPv4 rules, and a real receiver never needs it.
const IPV6_NON_PUBLIC: [network: string, prefix: number][] = [
  ['::', 96], // unspecified, loopback and IPv4-compatible (::a.b.c.d)
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT)
  ['64:ff9b::', 96], // NAT64
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 32], // Teredo
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
]

/** Instance metadata services (AWS, GCP, Azure, Oracle; AWS ECS; Alibaba; AWS over IPv6). */
const METADATA: [address: string, family: 'ipv4' | 'ipv6'][] = [
  ['169.254.169.254', 'ipv4'],
  ['169.254.170.2', 'ipv4'],
  ['100.100.100.200', 'ipv4'],
  ['fd00:ec2::254', 'ipv6'],
]

const nonPublic = new BlockList()
for (const [net, prefix] of IPV4_NON_PUBLIC) nonPublic.addSubnet(net, prefix, 'ipv4')
for (const [net, prefix] of IPV6_NON_PUBLIC) nonPublic.addSubnet(net, prefix, 'ipv6')

const metadata = new BlockList()
for (const [address, family] of METADATA) metadata.addAddress(address, family)

const familyOf = (address: string) => (({ 4: 'ipv4', 6: 'ipv6' }) as const)[isIP(address) as 4 | 6]

/**
 * Whether a webhook may not be sent to this address: a cloud metadata endpoint always; any other
 * non-public address unless `allowPrivate`. Anything that is not an IP address is refused.
 */
export function isRefusedAddress(address: string, allowPrivate: boolean): boolean {
  const family = familyOf(address)
  if (!family) return true
  if (metadata.check(address, family)) return true
  return !allowPrivate && nonPublic.check(address, family)
}

/** The URL's host without IPv6 brackets. */
export const hostOf = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, '$1')

/**
 * Whether the URL's host is (or resolves only to) allowed addresses. A host that does not resolve is
 * refused by the guard, allowed with `allowPrivate` (its addresses are checked again at connect time).
 */
export async function isAllowedTarget(url: URL, allowPrivate: boolean): Promise<boolean> {
  const host = hostOf(url)
  if (isIP(host)) return !isRefusedAddress(host, allowPrivate)
  const addresses = await new Promise<LookupAddress[]>((resolve) =>
    dnsLookup(host, { all: true, verbatim: true }, (err, found) => resolve(err ? [] : found)),
  )
  if (addresses.length === 0) return allowPrivate
  return !addresses.some((a) => isRefusedAddress(a.address, allowPrivate))
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void
export type GuardedLookup = (hostname: string, options: { all?: boolean }, callback: LookupCallback) => void

/** A `lookup` for http.request that refuses, at connect time, the addresses isRefusedAddress refuses. */
export function guardedLookup(allowPrivate: boolean): GuardedLookup {
  return (hostname, options, callback) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err) return callback(err, '')
      if (addresses.some((a) => isRefusedAddress(a.address, allowPrivate))) {
        return callback(Object.assign(new Error('the host does not resolve to public addresses only'), { code: 'EREFUSEDADDRESS' }), '')
      }
      if (options.all) return callback(null, addresses)
      const first = addresses[0]!
      return callback(null, first.address, first.family)
    })
}
