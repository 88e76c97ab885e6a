// A real Keel server process (`src/app/server.ts`, as `npm run dev` runs it), for tests of what only a
// process shows: signals, exit codes, its log, several instances side by side.
import { spawn, type ChildProcess } from 'node:child_process'
import { projectRoot } from '../../src/lib/paths.js'
import { waitFor } from './wait.js'

type Test = { teardown: (fn: () => unknown) => void }

export interface ServerProcess {
  /** http://127.0.0.1:<port> */
  base: string
  child: ChildProcess
  /** Everything written to stdout and stderr so far. */
  output(): string
  /** The JSON log lines so far. */
  logs(): { level: number; msg: string; [key: string]: unknown }[]
  /** Resolves with the exit code (null if killed by a signal). */
  exited: Promise<number | null>
}

export interface ServerOptions {
  /** Its own process group (so a signal to -pid reaches it and its children, as a terminal's Ctrl-C does). */
  detached?: boolean
  timeoutMs?: number
  /** Modules loaded before the app (`node --import`), e.g. src/app/instrumentation.ts. */
  imports?: string[]
}

export async function startServer(
  t: Test,
  env: Record<string, string>,
  { detached = false, timeoutMs = 90_000, imports = [] }: ServerOptions = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...imports.flatMap((m) => ['--import', m]), 'src/app/server.ts'], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const base = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`server exited at start (${child.exitCode}):\n${out}`)
      // The banner's API line (Swagger UI may be off: DOCS_ENABLED, production's default).
      return /API:\s+(http:\/\/\S+)\/api\/v1/.exec(out)?.[1]
    },
    { timeoutMs, intervalMs: 100, what: 'the server to start' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${out}`)
  })
  return {
    base,
    child,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { level: number; msg: string }),
    exited,
  }
}
