// `npm run deploy:check`: the deployment artefacts checked without a container runtime.
//   Dockerfile           dockerfile-utils' linter (every diagnostic fails), then the image's rules:
//                        multi-stage, production dependencies only, non-root, tini, HEALTHCHECK, CMD node
//   compose.yaml         the Compose specification's JSON schema (deploy/schemas/compose-spec.json),
//                        then the topology: every service has a health check, Keel waits for migrate
//   deploy/kubernetes/   each object against its Kubernetes schema (kubernetes-models), then probes,
//                        preStop, PodDisruptionBudget, HorizontalPodAutoscaler, Job, ConfigMap, Secret
// Exits 1 naming every problem. The environment they set is test/contract/deploy-env.test.ts's.
import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { validate as lintDockerfile } from 'dockerfile-utils'
import { Deployment } from 'kubernetes-models/apps/v1'
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2'
import { Job } from 'kubernetes-models/batch/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1'
import { containersOf, paths, readCompose, readDockerfile, readKubernetes, KEEL_IMAGE } from './artefacts.js'

const problems: string[] = []
const fail = (where: string, message: string) => problems.push(`${where}: ${message}`)
const ok = (message: string) => console.log(`  ok  ${message}`)

// --- Dockerfile
{
  const { text, ast } = readDockerfile()
  const where = 'Dockerfile'
  for (const d of lintDockerfile(text)) fail(`${where}:${d.range.start.line + 1}`, `${d.message} (dockerfile-utils)`)

  const froms = ast.getFROMs()
  if (froms.length < 2) fail(where, 'not multi-stage (a build stage, then a runtime stage)')
  const runtimeStart = froms[froms.length - 1]?.getRange().start.line ?? 0
  const runtime = ast.getInstructions().filter((i) => i.getRange().start.line >= runtimeStart)
  const last = (keyword: string) => runtime.filter((i) => i.getKeyword() === keyword).at(-1)
  const args = (keyword: string) => last(keyword)?.getArgumentsContent() ?? ''

  const installs = runtime.filter((i) => i.getKeyword() === 'RUN' && /\bnpm (ci|install)\b/.test(i.getArgumentsContent() ?? ''))
  if (installs.length === 0) fail(where, 'the runtime stage installs no dependencies (npm ci --omit=dev)')
  for (const i of installs)
    if (!/--omit=dev/.test(i.getArgumentsContent() ?? '')) fail(where, 'the runtime stage installs dev dependencies')
  if (!runtime.some((i) => i.getKeyword() === 'COPY' && /--from=/.test(i.getTextContent())))
    fail(where, 'the runtime stage copies nothing from the build stage')
  const user = args('USER')
  if (!user || /^(root|0)(:|$)/.test(user)) fail(where, `the runtime stage runs as ${user || 'root'} (needs a non-root USER)`)
  if (!/tini/.test(args('ENTRYPOINT'))) fail(where, 'no init process: ENTRYPOINT should be tini, so SIGTERM reaches Node')
  if (!/^\[\s*"node"/.test(args('CMD'))) fail(where, 'CMD should be the exec form ["node", ...] (signals reach Node, no shell)')
  if (!/\/health/.test(args('HEALTHCHECK'))) fail(where, 'no HEALTHCHECK against /health')
  if (!problems.some((p) => p.startsWith(where)))
    ok(`Dockerfile: lint clean; ${froms.length} stages, production dependencies only, USER ${user}, tini, HEALTHCHECK, ${args('CMD')}`)
}

// --- compose.yaml
{
  const where = 'compose.yaml'
  const before = problems.length
  const ajv = new Ajv({ allErrors: true, strict: false })
  addFormats.default(ajv)
  // The specification's schema is draft-07 (Ajv's default dialect), named by an https URL Ajv does not know.
  const { $schema: dialect, ...schema } = JSON.parse(readFileSync(paths.composeSchema, 'utf8')) as { $schema: string }
  if (!/draft-07/.test(dialect)) fail(where, `deploy/schemas/compose-spec.json is ${dialect}, not draft-07`)
  const validateCompose = ajv.compile(schema)
  const compose = readCompose()
  if (!validateCompose(compose)) {
    for (const e of validateCompose.errors ?? [])
      fail(where, `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)} (Compose specification)`)
  }
  const services = compose.services ?? {}
  const needed = ['postgres-primary', 'postgres-replica', 'pgbouncer', 'redis', 'migrate', 'api', 'worker', 'balancer']
  for (const name of needed) if (!services[name]) fail(where, `no service ${name} (the rehearsal's topology)`)
  for (const [name, service] of Object.entries(services)) {
    const check = service.healthcheck
    const oneShot = name === 'migrate'
    if (oneShot) {
      const waiting = Object.entries(services).filter(([, s]) => KEEL_IMAGE.test(s.image ?? '') && s !== service)
      for (const [other, s] of waiting) {
        const deps = s.depends_on as Record<string, { condition?: string }> | undefined
        if (deps?.migrate?.condition !== 'service_completed_successfully') fail(where, `${other} does not wait for migrate to complete`)
      }
    } else if (!check?.test || check.disable) fail(where, `service ${name} has no health check`)
  }
  if ((services.api?.deploy?.replicas ?? 1) < 2) fail(where, 'fewer than 2 API instances')
  if (problems.length === before)
    ok(
      `compose.yaml: valid against the Compose specification; ${Object.keys(services).length} services, each health-checked (migrate: by its exit)`,
    )
}

// --- deploy/kubernetes
{
  const models: Record<string, new (doc: never) => { validate(): void }> = {
    'apps/v1 Deployment': Deployment,
    'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
    'batch/v1 Job': Job,
    'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
    'v1 ConfigMap': ConfigMap,
    'v1 Secret': Secret,
    'v1 Service': Service,
  }
  const before = problems.length
  const docs = readKubernetes()
  for (const { file, doc } of docs) {
    const type = `${doc.apiVersion} ${doc.kind}`
    const where = `${file} ${doc.kind} ${doc.metadata?.name}`
    const Model = models[type]
    if (!Model) {
      fail(where, `no schema here for ${type}`)
      continue
    }
    try {
      new Model(doc as never).validate()
    } catch (err) {
      fail(where, `${(err as Error).message} (Kubernetes schema)`)
    }
  }
  const kinds = (kind: string) => docs.filter((d) => d.doc.kind === kind)
  const deployments = kinds('Deployment')
  for (const role of ['api', 'worker']) {
    const found = deployments.find((d) =>
      (containersOf(d.doc) ?? []).some((c) => c.env?.some((e) => e.name === 'ROLE' && e.value === role)),
    )
    if (!found) fail('deploy/kubernetes', `no Deployment with ROLE=${role}`)
  }
  for (const { file, doc } of deployments) {
    for (const c of containersOf(doc) ?? []) {
      const where = `${file} ${doc.metadata.name} container ${c.name}`
      if (!c.readinessProbe) fail(where, 'no readinessProbe')
      if (!c.livenessProbe) fail(where, 'no livenessProbe')
      if (!c.lifecycle?.preStop) fail(where, 'no preStop delay')
    }
    const name = doc.metadata.name
    const targets = (kind: string, ref: (d: Record<string, unknown>) => boolean) =>
      kinds(kind).some((d) => ref(d.doc.spec as Record<string, unknown>))
    const labels = (doc.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels
    const sameSelector = (spec: Record<string, unknown>) =>
      JSON.stringify((spec.selector as { matchLabels?: unknown } | undefined)?.matchLabels) === JSON.stringify(labels)
    if (!targets('PodDisruptionBudget', sameSelector)) fail(file, `no PodDisruptionBudget selects ${name}'s pods`)
    if (!targets('HorizontalPodAutoscaler', (spec) => (spec.scaleTargetRef as { name?: string }).name === name))
      fail(file, `no HorizontalPodAutoscaler scales ${name}`)
  }
  const jobs = kinds('Job')
  if (!jobs.some((j) => (containersOf(j.doc) ?? []).some((c) => JSON.stringify(c).includes('migrate'))))
    fail('deploy/kubernetes', 'no migration Job')
  for (const kind of ['ConfigMap', 'Secret']) if (kinds(kind).length === 0) fail('deploy/kubernetes', `no ${kind}`)
  if (problems.length === before)
    ok(
      `deploy/kubernetes: ${docs.length} objects valid against the Kubernetes schemas (${[...new Set(docs.map((d) => d.doc.kind))].join(', ')}); probes, preStop, PDB and HPA per Deployment`,
    )
}

if (problems.length > 0) {
  console.error(`\n${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  process.exit(1)
}
