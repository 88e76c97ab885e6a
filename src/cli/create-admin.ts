// `npm run create-admin -- <email>`: the first admin, on any database. Creates the account, or
// promotes (and re-enables) an existing one. The password is read from stdin when one is piped in
// (`echo "$PASSWORD" | npm run create-admin -- ops@example.com`); a new account without one gets a
// generated password, printed once. Uses DATABASE_URL, or the embedded PostgreSQL like `npm start`
// (the one a running `npm start` serves, or started here for the moment).
import postgres from 'postgres'
import { buildApp } from '../app/app.js'
import { ConfigError, loadConfig, type Config } from '../lib/config.js'
import { embeddedUrl, startEmbeddedPostgres } from '../dev/embedded-postgres.js'

const USAGE = 'Usage: npm run create-admin -- <email>   (a password piped on stdin becomes the admin password)'

/** The password piped in on stdin (without its final line break); undefined from a terminal or an empty pipe. */
async function pipedPassword(): Promise<string | undefined> {
  if (process.stdin.isTTY) return undefined
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '')
  return text === '' ? undefined : text
}

/** DATABASE_URL, else the embedded database: already served by a running `npm start`, or started until we are done. */
async function database(config: Config): Promise<{ url: string; stop: () => Promise<void> }> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, stop: async () => {} }
  const url = embeddedUrl(config.EMBEDDED_PG_PORT)
  const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} })
  try {
    await probe`select 1`
    return { url, stop: async () => {} }
  } catch {
    console.log(`Starting the embedded PostgreSQL in ${config.EMBEDDED_PG_DIR} (port ${config.EMBEDDED_PG_PORT})...`)
    const embedded = await startEmbeddedPostgres({ dir: config.EMBEDDED_PG_DIR, port: config.EMBEDDED_PG_PORT })
    return { url: embedded.url, stop: embedded.stop }
  } finally {
    await probe.end({ timeout: 1 })
  }
}

async function main(): Promise<number> {
  const email = process.argv[2]
  if (!email || process.argv.length > 3) {
    console.error(USAGE)
    return 1
  }
  let config: Config
  try {
    config = loadConfig({ LOG_LEVEL: 'error', ...process.env })
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(err.message)
    return 1
  }
  const password = await pipedPassword()
  const db = await database(config)
  // ROLE=api: migrations and contracts, no workers (this process must not take jobs).
  const app = await buildApp({ config: { ...config, DATABASE_URL: db.url, ROLE: 'api' } })
  try {
    await app.ready()
    const { user, created, generatedPassword } = await app.users.ensureAdmin(email, password)
    if (!created)
      console.log(`${user.email} is now an active admin${password ? '; its password is the one given, and its sessions ended' : ''}.`)
    else if (generatedPassword)
      console.log(
        `Admin created: ${user.email}\n  password: ${generatedPassword}\n  (shown once, stored nowhere in clear: keep it, or change it after logging in)`,
      )
    else console.log(`Admin created: ${user.email} (with the password given on stdin).`)
    return 0
  } catch (err) {
    const e = err as { statusCode?: number; message: string }
    if (e.statusCode && e.statusCode < 500) {
      console.error(`create-admin: ${e.message}`)
      return 1
    }
    throw err
  } finally {
    await app.close()
    await db.stop()
  }
}

process.exitCode = await main()
