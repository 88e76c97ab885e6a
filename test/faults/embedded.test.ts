// The embedded PostgreSQL of `npm start`. Ctrl-C in a terminal signals the whole foreground process
// group: PostgreSQL runs in a group of its own, so only Keel gets it, drains, then stops PostgreSQL
// (a clean shutdown logs no error, no "terminating connection"). And as root, in a folder the
// unprivileged postgres user cannot enter (a clone under /root), it still starts: the binaries are
// copied and the data kept where that user can reach them — or Keel says in one line what to do.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { EmbeddedPostgresError, reachableDataDir, startEmbeddedPostgres } from '../../src/dev/embedded-postgres.js'
import { projectRoot } from '../../src/lib/paths.js'
import { copyTemplate, scratchDir } from '../helpers/postgres-server.js'
import { freePort } from '../helpers/redis-server.js'
import { startServer } from '../helpers/server-process.js'
import postgres from 'postgres'
import { isAlive } from '../../src/lib/processes.js'

const run = promisify(execFile)
const scratch = () => scratchDir('embedded')

t.test('Ctrl-C on npm start: Keel drains first, then stops its PostgreSQL; no error is logged', async (t) => {
  const dir = await scratch()
  await mkdir(dir, { recursive: true })
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await copyTemplate(join(dir, 'postgres')) // (an initialised cluster: initdb is not what this tests)
  const server = await startServer(
    t,
    { EMBEDDED_PG_DIR: join(dir, 'postgres'), EMBEDDED_PG_PORT: String(await freePort()), SEED_DEMO_DATA: 'false' },
    { detached: true },
  )
  t.equal((await fetch(`${server.base}/health/ready`)).status, 200)
  const postmaster = Number(readFileSync(join(dir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0])
  t.ok(isAlive(postmaster), 'the embedded PostgreSQL is running')

  process.kill(-server.child.pid!, 'SIGINT') // what a terminal sends to its foreground process group
  t.equal(await server.exited, 0, 'exit code 0')
  t.notOk(isAlive(postmaster), 'PostgreSQL is stopped too')
  t.notOk(existsSync(join(dir, 'postgres', 'postmaster.pid')), 'cleanly (no pid file left)')
  t.notMatch(server.output(), /57P01|terminating connection/, 'PostgreSQL did not end the connections under the app')
  t.same(
    server
      .logs()
      .filter((l) => l.level >= 50)
      .map((l) => l.msg),
    [],
    'nothing logged as an error',
  )
})

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0
t.test(
  'as root, in a folder the postgres user cannot enter',
  { skip: asRoot ? false : 'only as root (PostgreSQL then runs as the unprivileged postgres user)' },
  async (t) => {
    // Like a clone under /root: binaries and data dir inside a mode-700 folder.
    const home = await mkdtemp(join(tmpdir(), 'keel-root-home-'))
    const system = await scratch()
    t.teardown(async () => {
      await rm(home, { recursive: true, force: true })
      await rm(system, { recursive: true, force: true })
    })
    const installed = dirname(dirname((await import(`@embedded-postgres/${process.platform}-${process.arch}`)).postgres as string))
    await run('cp', ['-a', join(installed, '..'), join(home, 'package')])
    const nativeDir = join(home, 'package', 'native')
    const systemDirs = { cache: join(system, 'cache'), data: join(system, 'data') }

    const pg = await startEmbeddedPostgres({ dir: join(home, 'data'), port: await freePort(), nativeDir, systemDirs })
    t.teardown(() => pg.stop())
    t.ok(pg.created, 'created (initdb ran as the postgres user)')
    t.ok(pg.dir.startsWith(systemDirs.data), `its data is kept where that user can reach it (${pg.dir})`)
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} })
    t.same(await sql`select 1 as one`, [{ one: 1 }], 'and it answers')
    await sql.end()
    await pg.stop()

    // A fresh clone: the data folder and the folders above it do not exist yet.
    const fresh = join(await scratch(), 'clone', '.data', 'postgres')
    t.teardown(() => rm(dirname(dirname(dirname(fresh))), { recursive: true, force: true }))
    const first = await startEmbeddedPostgres({ dir: fresh, port: await freePort(), nativeDir, systemDirs })
    t.equal(first.dir, fresh, 'a fresh folder (parents made now) keeps its data where asked')
    const again = postgres(first.url, { max: 1, onnotice: () => {} })
    t.same(await again`select 1 as one`, [{ one: 1 }], 'and it answers')
    await again.end()
    await first.stop()

    // Nowhere to put the data: one clear line saying what to do.
    const nowhere = { cache: systemDirs.cache, data: join(home, 'system-data') }
    const error = await startEmbeddedPostgres({ dir: join(home, 'other'), port: await freePort(), nativeDir, systemDirs: nowhere }).then(
      () => undefined,
      (err: unknown) => err,
    )
    t.ok(error instanceof EmbeddedPostgresError, 'refused with an EmbeddedPostgresError')
    t.match((error as Error).message, /cannot enter .*set EMBEDDED_PG_DIR .*or set DATABASE_URL/)
    t.notMatch((error as Error).message, /\n/, 'in one line')
  },
)

t.test(
  "as root, a clone in a folder the postgres user cannot enter runs the tests' own PostgreSQL servers",
  { skip: asRoot ? false : 'only as root (PostgreSQL then runs as the unprivileged postgres user)' },
  async (t) => {
    // A fresh clone in a `mktemp -d` folder (mode 700): its fault servers start, as npm start does there.
    const clone = await mkdtemp(join(tmpdir(), 'keel-clone-'))
    // Where that clone's .data/faults is kept instead (the data of npm start would move the same way).
    const moved = await reachableDataDir(join(clone, '.data', 'faults'))
    t.teardown(async () => {
      await rm(clone, { recursive: true, force: true })
      await rm(moved, { recursive: true, force: true })
    })
    t.notOk(moved.startsWith(clone), `its data goes where the postgres user can reach it (${moved})`)
    for (const path of ['package.json', 'src', 'test/helpers']) await cp(join(projectRoot, path), join(clone, path), { recursive: true })
    await symlink(join(projectRoot, 'node_modules'), join(clone, 'node_modules'))
    await writeFile(
      join(clone, 'probe.ts'),
      `import postgres from 'postgres'
import { startPostgres } from './test/helpers/postgres-server.js'
const teardowns: (() => unknown)[] = []
try {
  const pg = await startPostgres({ teardown: (fn) => teardowns.push(fn) })
  const sql = postgres(pg.url(), { max: 1, onnotice: () => {} })
  console.log(JSON.stringify(await sql\`select 1 as one\`))
  await sql.end()
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
`,
    )
    const probe = await run(process.execPath, ['--import', 'tsx', 'probe.ts'], { cwd: clone }).then(
      ({ stdout }) => JSON.parse(stdout.trim().split('\n').at(-1)!) as unknown,
      (err: { stderr?: string; message: string }) => err.stderr || err.message,
    )
    t.same(probe, [{ one: 1 }], 'a throwaway server of that clone started and answered')
    t.ok(existsSync(moved), 'from there')
  },
)
