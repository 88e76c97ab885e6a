// The environment the deployment artefacts set (Dockerfile ENV, compose.yaml, deploy/kubernetes)
// is Keel's: every name is one src/lib/config.ts knows (a typo or a renamed variable would be
// ignored silently by the app), and each Keel process's whole environment passes loadConfig as
// production (JWT_SECRET, DATABASE_URL, ...), with the role the topology needs.
import t from 'tap'
import { ConfigSchema, loadConfig } from '../../src/lib/config.js'
import '../../src/lib/schemas.js' // the string formats (uri, ...) the app registers before reading its config
import { composeKeelEnvs, dockerfileEnv, interpolate, kubernetesKeelEnvs, type KeelEnv } from '../../deploy/artefacts.js'

const known = new Set(Object.keys(ConfigSchema.properties))
// What `docker compose up` is given on the command line (compose.yaml's header says so).
const composeVars = { POSTGRES_PASSWORD: 'a-password', JWT_SECRET: 'j'.repeat(48) }

function unknownNames(envs: KeelEnv[]): string[] {
  return envs.flatMap(({ where, set }) =>
    Object.keys(set)
      .filter((name) => !known.has(name))
      .map((name) => `${where}: ${name}`),
  )
}

t.test('the Dockerfile sets only variables Keel knows', async (t) => {
  const env = dockerfileEnv()
  t.same(
    Object.keys(env).filter((name) => !known.has(name)),
    [],
  )
  t.equal(env.NODE_ENV, 'production', 'the image runs in production mode')
})

for (const [artefact, envs] of [
  ['compose.yaml', () => composeKeelEnvs(composeVars)],
  ['deploy/kubernetes', () => kubernetesKeelEnvs()],
] as const) {
  t.test(`${artefact}: every Keel process gets only Keel's variables, and a configuration that loads`, async (t) => {
    const all = envs()
    t.ok(all.length >= 3, 'migration, API and worker processes found')
    t.same(unknownNames(all), [], 'no variable config.ts does not know')
    for (const { where, effective } of all) {
      const config = loadConfig(effective) // throws naming the variable when one is missing or invalid
      t.equal(config.NODE_ENV, 'production', `${where}: production`)
      t.ok(config.DATABASE_URL, `${where}: DATABASE_URL set`)
      t.ok(config.JWT_SECRET, `${where}: JWT_SECRET set`)
    }
    const byRole = (role: string) => all.filter(({ effective }) => effective.ROLE === role)
    for (const role of ['api', 'worker']) {
      const processes = byRole(role)
      t.ok(processes.length > 0, `a ROLE=${role} process`)
      for (const { where, effective } of processes) {
        const config = loadConfig(effective)
        t.ok(config.REDIS_URL, `${where}: REDIS_URL set (shared cache and rate limits across instances)`)
        t.equal(config.DB_MIGRATE, false, `${where}: migrations are the one-shot step's, not the instances'`)
        t.equal(config.DB_PREPARE, false, `${where}: no prepared statements through PgBouncer's transaction pooling`)
        t.ok(config.DATABASE_DIRECT_URL, `${where}: pg-boss gets a session on the primary (DATABASE_DIRECT_URL)`)
      }
    }
    for (const { where, effective } of byRole('api')) t.ok(loadConfig(effective).DATABASE_READ_URL, `${where}: reads go to the replica`)
  })
}

t.test('a variable config.ts does not know is reported', async (t) => {
  const env: KeelEnv = { where: 'x', set: { DATABSE_URL: 'postgres://typo' }, effective: {} }
  t.same(unknownNames([env]), ['x: DATABSE_URL'])
})

t.test('compose interpolation: set, default, required', async (t) => {
  t.equal(interpolate('a${X}b', { X: '1' }), 'a1b')
  t.equal(interpolate('${X:-d}', {}), 'd')
  t.throws(() => interpolate('${X:?set X}', {}), /needs X: set X/)
})
