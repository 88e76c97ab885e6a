// The SSRF guard: which addresses a webhook may target (a table, with and without
// WEBHOOK_ALLOW_PRIVATE), how URLs spell them, and an app with private targets refused — at
// subscription and at delivery, for IP literals and for hostnames, without saying what a host resolves to.
import t from 'tap'
import { isAllowedTarget, isRefusedAddress } from '../../../modules/webhooks/ssrf.js'
import { build } from '../../helpers/build.js'
import { createUser } from '../../helpers/auth.js'
import { product } from '../../helpers/marketplace.js'
import { waitFor } from '../../helpers/wait.js'
import { receiver } from './receiver.js'

// [address, refused by the guard, refused with WEBHOOK_ALLOW_PRIVATE=true]
const addresses: [string, boolean, boolean][] = [
  // Public.
  ['93.184.216.34', false, false],
  ['8.8.8.8', false, false],
  ['::ffff:8.8.8.8', false, false], // IPv4-mapped public: the IPv4 rules decide
  ['2606:4700:4700::1111', false, false],
  ['2001:4860:4860::8888', false, false],
  // Non-public IPv4.
  ['0.0.0.0', true, false],
  ['10.1.2.3', true, false],
  ['100.64.0.1', true, false],
  ['127.0.0.1', true, false],
  ['127.255.255.254', true, false],
  ['169.254.1.1', true, false],
  ['172.16.0.1', true, false],
  ['172.31.255.255', true, false],
  ['192.0.0.8', true, false],
  ['192.0.2.1', true, false],
  ['192.88.99.1', true, false],
  ['192.168.1.1', true, false],
  ['198.18.0.1', true, false],
  ['198.51.100.1', true, false],
  ['203.0.113.1', true, false],
  ['224.0.0.1', true, false],
  ['255.255.255.255', true, false],
  // Non-public IPv6.
  ['::', true, false],
  ['::1', true, false],
  ['100::1', true, false],
  ['2001:db8::1', true, false],
  ['fc00::1', true, false],
  ['fd12:3456::1', true, false],
  ['fe80::1', true, false],
  ['fec0::1', true, false], // site-local
  ['feff::1', true, false],
  ['ff02::1', true, false],
  // IPv4 inside IPv6.
  ['::ffff:127.0.0.1', true, false], // mapped
  ['::ffff:7f00:1', true, false],
  ['0:0:0:0:0:ffff:7f00:1', true, false],
  ['::ffff:10.0.0.1', true, false],
  ['::127.0.0.1', true, false], // IPv4-compatible
  ['::7f00:1', true, false],
  ['::8.8.8.8', true, false],
  ['::ffff:0:7f00:1', true, false], // IPv4-translated
  ['::ffff:0:808:808', true, false],
  ['64:ff9b::7f00:1', true, false], // NAT64
  ['64:ff9b::808:808', true, false],
  ['64:ff9b:1::a00:1', true, false],
  ['2002:7f00:1::1', true, false], // 6to4
  ['2002:808:808::1', true, false],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', true, false], // Teredo
  // Cloud metadata: refused whatever the configuration.
  ['169.254.169.254', true, true],
  ['169.254.170.2', true, true],
  ['100.100.100.200', true, true],
  ['fd00:ec2::254', true, true],
  ['fd00:ec2:0:0:0:0:0:254', true, true],
  ['::ffff:169.254.169.254', true, true],
  ['::ffff:a9fe:a9fe', true, true],
  // Not an address.
  ['localhost', true, true],
  ['', true, true],
]

t.test('which addresses a webhook may target', async (t) => {
  for (const [address, strict, lenient] of addresses) {
    t.equal(isRefusedAddress(address, false), strict, `${address || '(empty)'} ${strict ? 'refused' : 'allowed'}`)
    t.equal(
      isRefusedAddress(address, true),
      lenient,
      `${address || '(empty)'} with WEBHOOK_ALLOW_PRIVATE: ${lenient ? 'refused' : 'allowed'}`,
    )
  }
})

// [URL, allowed by the guard, allowed with WEBHOOK_ALLOW_PRIVATE=true]
const urls: [string, boolean, boolean][] = [
  ['https://93.184.216.34/hook', true, true],
  ['https://[2606:4700:4700::1111]/hook', true, true],
  ['https://[::ffff:93.184.216.34]/hook', true, true],
  ['http://localhost:8080/', false, true], // resolved: 127.0.0.1 or ::1
  ['http://127.1/', false, true], // URL spellings of 127.0.0.1
  ['http://2130706433/', false, true],
  ['http://0x7f.0.0.1/', false, true],
  ['http://[::127.0.0.1]/', false, true],
  ['http://[::ffff:0:7f00:1]/', false, true],
  ['http://[0:0:0:0:0:ffff:127.0.0.1]/', false, true],
  ['http://[fec0::1]/', false, true],
  ['http://169.254.169.254/latest/meta-data', false, false],
  ['http://0xa9fea9fe/', false, false],
  ['http://[::ffff:169.254.169.254]/', false, false],
  ['http://[fd00:ec2::254]/', false, false],
]

t.test('how URLs spell the addresses', async (t) => {
  for (const [url, strict, lenient] of urls) {
    t.equal(await isAllowedTarget(new URL(url), false), strict, `${url} ${strict ? 'allowed' : 'refused'}`)
    t.equal(await isAllowedTarget(new URL(url), true), lenient, `${url} with WEBHOOK_ALLOW_PRIVATE: ${lenient ? 'allowed' : 'refused'}`)
  }
})

t.test(
  'WEBHOOK_ALLOW_PRIVATE=false: private targets are refused at subscription and at delivery, saying nothing of the address',
  async (t) => {
    const app = await build(t, { WEBHOOK_ALLOW_PRIVATE: false })
    const user = await createUser(app)
    const hook = await receiver(t)
    const subscribe = (url: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/webhooks',
        headers: user.headers,
        payload: { url, events: ['product.updated'], currentPassword: user.password },
      })

    for (const url of [hook.url, `http://localhost:${hook.port}/hook`, ...urls.filter(([, strict]) => !strict).map(([u]) => u)]) {
      const res = await subscribe(url)
      t.equal(res.statusCode, 400, url)
      t.match(
        res.json(),
        { code: 'UNSAFE_WEBHOOK_URL', error: 'The webhook URL must resolve to public addresses only', details: [{ field: 'url' }] },
        url,
      )
    }
    const localhost = await subscribe('http://localhost/')
    t.notMatch(localhost.body, /127\.0\.0\.1|::1/, 'the answer does not say what the host resolves to')
    t.equal((await subscribe('https://93.184.216.34/hook')).statusCode, 201, 'a public address is accepted')

    // Targets that became private after they were subscribed (a DNS change): refused when connecting,
    // an IP literal before any connection and a hostname by the DNS lookup, without a retry.
    const stored = await app.sql<{ id: string }[]>`insert into webhook_subscriptions (id, owner_id, url, events, secret)
    values (gen_random_uuid(), ${user.id}, ${hook.url}, ${['product.updated']}, 'whsec_c2VjcmV0'),
           (gen_random_uuid(), ${user.id}, ${`http://localhost:${hook.port}/hook`}, ${['product.updated']}, 'whsec_c2VjcmV0')
    returning id`
    const seller = await createUser(app)
    const item = await product(app, seller)
    await app.inject({ method: 'PATCH', url: `/api/v1/products/${item.id}`, headers: seller.headers, payload: { stock: 3 } })
    for (const { id: webhookId } of stored) {
      const failed = await waitFor(
        async () =>
          (
            await app.sql<{ status: string; attempts: number; lastError: string }[]>`
            select status, attempts, last_error as "lastError" from webhook_deliveries where webhook_id = ${webhookId} and status = 'failed'`
          )[0],
        { what: `the delivery to ${webhookId} to fail` },
      )
      t.same(failed, { status: 'failed', attempts: 1, lastError: 'refused to connect: the host does not resolve to public addresses only' })
    }
    t.equal(hook.received.length, 0, 'nothing reached the private address')
  },
)
