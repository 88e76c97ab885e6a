// The scaffolder keeps the published contract whole: after `npm run new:module` and after
// `npm run remove:module`, the TypeScript client is what openapi.yaml generates (CI's client:check),
// and scaffolding then removing leaves nothing behind. Runs in a copy of the repository's files, as a
// newcomer's clone would.
import t from 'tap'
import { execFile } from 'node:child_process'
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { projectRoot } from '../../src/lib/paths.js'

const exec = promisify(execFile)
// Some ten tool runs (prettier, drizzle-kit, the spec and client generators): about 2 minutes, over 6
// on a machine running several suites at once.
t.setTimeout(600_000)

t.test('new:module and remove:module leave the TypeScript client current', async (t) => {
  const clone = await mkdtemp(join(tmpdir(), 'keel-scaffold-'))
  t.teardown(() => rm(clone, { recursive: true, force: true }))
  const { stdout: files } = await exec('git', ['ls-files', '-z'], { cwd: projectRoot, maxBuffer: 64 * 1024 * 1024 })
  for (const file of files.split('\0').filter((f) => f && f !== 'node_modules')) {
    await cp(join(projectRoot, file), join(clone, file), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err // (a file deleted in the work tree, not yet committed)
    })
  }
  await symlink(join(projectRoot, 'node_modules'), join(clone, 'node_modules'))
  const sh = (command: string, ...args: string[]) =>
    exec(command, args, { cwd: clone, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 64 * 1024 * 1024 })
  const git = (...args: string[]) => sh('git', '-c', 'user.name=test', '-c', 'user.email=test@keel.local', ...args)
  await git('init', '-q')
  await git('add', '-A')
  await git('commit', '-qm', 'base')
  const current = (what: string) => t.resolves(sh('npm', 'run', '--silent', 'client:check'), `the client is current ${what}`)

  await sh('npm', 'run', '--silent', 'new:module', '--', 'gadgets')
  await current('after new:module')
  const { stdout: client } = await git('status', '--porcelain', 'clients')
  t.match(client, /clients\/typescript/, 'new:module regenerated the client')

  await sh('npm', 'run', '--silent', 'remove:module', '--', 'gadgets')
  await current('after remove:module')
  t.equal((await git('status', '--porcelain')).stdout, '', 'scaffolding then removing leaves nothing behind')
})
