// A real server process, as a newcomer starts it, driven over HTTP and through Swagger UI in a real
// browser (Debian's chromium via playwright-core).
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createTestDatabase } from '../helpers/build.js'
import { waitFor } from '../helpers/wait.js'

const CHROMIUM = '/usr/bin/chromium'

async function startServer(
  t: Parameters<typeof createTestDatabase>[0],
  env: Record<string, string>,
): Promise<{ base: string; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/app/server.ts'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString()
  })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const m = /Swagger UI: (http:\/\/\S+)\/docs/.exec(out)
    if (m) return { base: m[1]!, child, output: () => out }
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`server did not start:\n${out}`)
}

const needsChromium = { skip: existsSync(CHROMIUM) ? false : `needs Debian's chromium at ${CHROMIUM} (apt-get install chromium)` }

/** Headless chromium as root on a machine with no outside network; closed in teardown. */
async function launchChromium(t: Parameters<typeof createTestDatabase>[0]) {
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  t.teardown(() => browser.close())
  return browser
}

const exitOf = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))

t.test('the server starts, answers in the envelope, serves Swagger UI and stops cleanly on SIGTERM', async (t) => {
  const databaseUrl = await createTestDatabase(t)
  const { base, child, output } = await startServer(t, {
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'e2e-secret-e2e-secret-e2e-secret-e2e',
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL, REDIS_KEY_PREFIX: `keel-e2e:${process.pid}:` } : {}),
  })

  const ready = await fetch(`${base}/health/ready`)
  t.equal(ready.status, 200)
  t.same(await ready.json(), { status: 'healthy', checks: { database: 'ok', cache: 'ok', queue: 'ok' } })

  const missing = await fetch(`${base}/api/v1/does-not-exist`, { headers: { 'x-request-id': 'e2e-1' } })
  t.equal(missing.status, 404)
  t.equal(missing.headers.get('x-request-id'), 'e2e-1')
  t.match(await missing.json(), { success: false, code: 'NOT_FOUND', requestId: 'e2e-1' })

  const spec = (await (await fetch(`${base}/docs/json`)).json()) as { openapi: string; paths: Record<string, unknown> }
  t.equal(spec.openapi, '3.0.3')
  t.ok(spec.paths['/health/ready'], 'the live spec documents the routes')

  await t.test('Swagger UI renders, "Try it out" works against the server, enumerations are drop-downs', needsChromium, async (t) => {
    const browser = await launchChromium(t)
    const page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.goto(`${base}/docs`)
    await page.waitForSelector('.opblock', { timeout: 20_000 })
    t.ok(await page.locator('button.authorize').isVisible(), 'the Authorize button is shown')
    const op = page.locator('.opblock', { hasText: '/health/ready' }).first()
    await op.locator('.opblock-summary').click()
    await op.locator('button.try-out__btn').click()
    await op.locator('button.execute').click()
    const status = op.locator('.live-responses-table tr.response .response-col_status').first()
    await status.waitFor({ timeout: 10_000 })
    t.equal((await status.innerText()).trim(), '200')
    t.match(await op.locator('.live-responses-table .highlight-code').first().innerText(), /"status": "healthy"/)

    // An enumeration is a drop-down of all its values (an `anyOf` of one-value enums offered only the first).
    const list = page.locator('#operations-products-listProducts')
    await list.locator('.opblock-summary').click()
    await list.locator('button.try-out__btn').click()
    const filter = list.locator('tr[data-param-name="status"] select')
    const offered = (await filter.locator('option').allInnerTexts()).map((o) => o.trim()).filter((o) => o !== '--')
    t.same(offered, ['active', 'inactive'], 'GET /api/v1/products: the status drop-down offers both values')
    await filter.selectOption('inactive')
    await list.locator('button.execute').click()
    const listed = list.locator('.live-responses-table tr.response .response-col_status').first()
    await listed.waitFor({ timeout: 10_000 })
    t.equal((await listed.innerText()).trim(), '200')
    t.match(await list.locator('.request-url pre').first().innerText(), /status=inactive/, 'the request carries the value picked')
    t.same(errors, [], 'no script errors (helmet CSP lets Swagger UI run)')
  })

  await t.test('"Authorize" works with a bearer token and with an API key', needsChromium, async (t) => {
    const json = { 'content-type': 'application/json' }
    const account = { email: `e2e-${process.pid}@example.test`, password: 'Correct-Horse-9-Battery', name: 'E2E' }
    t.equal((await fetch(`${base}/api/v1/auth/register`, { method: 'POST', headers: json, body: JSON.stringify(account) })).status, 201)
    const loginRes = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ email: account.email, password: account.password }),
    })
    const login = (await loginRes.json()) as { data: { accessToken: string } }
    t.equal(loginRes.status, 200, JSON.stringify(login))
    const token = login.data.accessToken
    // In development the log transport prints each email, links included: verify the address from there.
    const link = await waitFor(() => /verify-email\?token=([A-Za-z0-9_-]+)/.exec(output()), { what: 'the verification link in the log' })
    t.ok(link, 'the verification email and its link are in the log')
    const verified = await fetch(`${base}/api/v1/auth/verify-email`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ token: link![1] }),
    })
    t.equal(verified.status, 200)
    const created = (await (
      await fetch(`${base}/api/v1/api-keys`, {
        method: 'POST',
        headers: { ...json, authorization: `Bearer ${token}` },
        body: JSON.stringify({ name: 'swagger', scopes: ['read'], currentPassword: account.password }),
      })
    ).json()) as { data: { key: string } }

    const browser = await launchChromium(t)

    for (const [scheme, value] of [
      ['bearerAuth', token],
      ['apiKey', created.data.key],
    ] as const) {
      const page = await browser.newPage()
      await page.goto(`${base}/docs`)
      await page.waitForSelector('.opblock', { timeout: 20_000 })
      await page.locator('button.authorize').first().click()
      const box = page.locator('.modal-ux .auth-container', { hasText: scheme })
      await box.locator('input').first().fill(value)
      await box.locator('button.authorize').click()
      await page.locator('.modal-ux button.close-modal').click()

      const op = page.locator('.opblock', { hasText: '/api/v1/auth/me' }).first()
      await op.locator('.opblock-summary').click()
      await op.locator('button.try-out__btn').click()
      await op.locator('button.execute').click()
      const status = op.locator('.live-responses-table tr.response .response-col_status').first()
      await status.waitFor({ timeout: 10_000 })
      t.equal((await status.innerText()).trim(), '200', `GET /auth/me answers 200 with ${scheme}`)
      t.match(await op.locator('.live-responses-table .highlight-code').first().innerText(), account.email)
      await page.close()
    }
  })

  const exited = exitOf(child)
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM exits 0')
  t.match(output(), /shutting down/)
})
