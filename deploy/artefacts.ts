// Reading the deployment artefacts (Dockerfile, compose.yaml, deploy/kubernetes/*.yaml) into plain
// data, for the static checks (deploy/check.ts) and the environment contract test
// (test/contract/deploy-env.test.ts). No container runtime is involved.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { DockerfileParser, type Dockerfile } from 'dockerfile-ast'
import { parseAllDocuments, parse as parseYaml } from 'yaml'

export const root = join(import.meta.dirname, '..')
export const paths = {
  dockerfile: join(root, 'Dockerfile'),
  compose: join(root, 'compose.yaml'),
  kubernetes: join(root, 'deploy', 'kubernetes'),
  composeSchema: join(root, 'deploy', 'schemas', 'compose-spec.json'),
}

/** The image every Keel service and container runs. */
export const KEEL_IMAGE = /^keel(:|$)/

export function readDockerfile(): { text: string; ast: Dockerfile } {
  const text = readFileSync(paths.dockerfile, 'utf8')
  return { text, ast: DockerfileParser.parse(text) }
}

/** ENV of the Dockerfile's last stage (the image that runs). */
export function dockerfileEnv(ast = readDockerfile().ast): Record<string, string> {
  const froms = ast.getFROMs()
  const lastFromLine = froms[froms.length - 1]?.getRange().start.line ?? 0
  const env: Record<string, string> = {}
  for (const instruction of ast.getENVs()) {
    if (instruction.getRange().start.line < lastFromLine) continue
    for (const property of instruction.getProperties()) env[property.getName()] = property.getValue() ?? ''
  }
  return env
}

// --- compose.yaml

export interface ComposeService {
  image?: string
  command?: string[]
  environment?: Record<string, string | number | boolean | null> | string[]
  healthcheck?: { test?: string[] | string; disable?: boolean }
  depends_on?: Record<string, { condition?: string }> | string[]
  deploy?: { replicas?: number }
  [key: string]: unknown
}

export interface ComposeFile {
  services: Record<string, ComposeService>
  [key: string]: unknown
}

/** compose.yaml as Compose reads it: YAML merge keys (`<<: *keel`) applied. */
export function readCompose(): ComposeFile {
  return parseYaml(readFileSync(paths.compose, 'utf8'), { merge: true }) as ComposeFile
}

/** Compose's interpolation (`${VAR}`, `${VAR:?message}`, `${VAR:-default}`) with the given variables. */
export function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g, (_match, name: string, op?: string, arg?: string) => {
    const set = vars[name]
    if (set !== undefined && set !== '') return set
    if (op?.endsWith('-')) return arg ?? ''
    if (op?.endsWith('?')) throw new Error(`compose.yaml needs ${name}: ${arg}`)
    return ''
  })
}

function composeEnvironment(service: ComposeService, vars: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  const raw = service.environment ?? {}
  const entries = Array.isArray(raw) ? raw.map((line) => line.split(/=(.*)/s, 2) as [string, string]) : Object.entries(raw)
  for (const [name, value] of entries) env[name] = interpolate(String(value ?? ''), vars)
  return env
}

export interface KeelEnv {
  /** "compose.yaml services.api", "deploy/kubernetes/api.yaml Deployment keel-api container api", ... */
  where: string
  /** The variables the artefact itself sets (what must be Keel's). */
  set: Record<string, string>
  /** What the process sees: the image's ENV, then the artefact's. */
  effective: Record<string, string>
}

/** The environment of every compose service that runs the Keel image. */
export function composeKeelEnvs(vars: Record<string, string>, compose = readCompose()): KeelEnv[] {
  const image = dockerfileEnv()
  return Object.entries(compose.services)
    .filter(([, service]) => KEEL_IMAGE.test(service.image ?? ''))
    .map(([name, service]) => {
      const set = composeEnvironment(service, vars)
      return { where: `compose.yaml services.${name}`, set, effective: { ...image, ...set } }
    })
}

// --- deploy/kubernetes/*.yaml

export interface KubernetesDoc {
  file: string
  doc: { apiVersion: string; kind: string; metadata: { name: string }; [key: string]: unknown }
}

export function readKubernetes(): KubernetesDoc[] {
  const docs: KubernetesDoc[] = []
  for (const file of readdirSync(paths.kubernetes)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const document of parseAllDocuments(readFileSync(join(paths.kubernetes, file), 'utf8'))) {
      if (document.errors.length > 0) throw new Error(`deploy/kubernetes/${file}: ${document.errors[0]?.message}`)
      const doc = document.toJS() as KubernetesDoc['doc'] | null
      if (doc) docs.push({ file: `deploy/kubernetes/${file}`, doc })
    }
  }
  return docs
}

interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } }
}
interface Container {
  name: string
  image: string
  env?: EnvVar[]
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[]
  readinessProbe?: unknown
  livenessProbe?: unknown
  lifecycle?: { preStop?: unknown }
}

/** The pod template's containers of a Deployment, Job, ... (undefined for kinds without pods). */
export function containersOf(doc: KubernetesDoc['doc']): Container[] | undefined {
  const spec = doc.spec as { template?: { spec?: { containers?: Container[] } } } | undefined
  return spec?.template?.spec?.containers
}

/** The environment of every container that runs the Keel image, ConfigMap and Secret references resolved. */
export function kubernetesKeelEnvs(docs = readKubernetes()): KeelEnv[] {
  const image = dockerfileEnv()
  const find = (kind: string, name: string) => {
    const found = docs.find((d) => d.doc.kind === kind && d.doc.metadata.name === name)
    if (!found) throw new Error(`no ${kind} ${name} in deploy/kubernetes`)
    return found.doc as { data?: Record<string, string>; stringData?: Record<string, string> }
  }
  const configMap = (name: string) => find('ConfigMap', name).data ?? {}
  const secret = (name: string) => find('Secret', name).stringData ?? {}
  const envs: KeelEnv[] = []
  for (const { file, doc } of docs) {
    for (const container of containersOf(doc) ?? []) {
      if (!KEEL_IMAGE.test(container.image)) continue
      const set: Record<string, string> = {}
      for (const from of container.envFrom ?? []) {
        if (from.configMapRef) Object.assign(set, configMap(from.configMapRef.name))
        if (from.secretRef) Object.assign(set, secret(from.secretRef.name))
      }
      for (const variable of container.env ?? []) {
        const { secretKeyRef, configMapKeyRef } = variable.valueFrom ?? {}
        const value = secretKeyRef
          ? secret(secretKeyRef.name)[secretKeyRef.key]
          : configMapKeyRef
            ? configMap(configMapKeyRef.name)[configMapKeyRef.key]
            : variable.value
        if (value === undefined) throw new Error(`${file} ${doc.kind} ${doc.metadata.name}: ${variable.name} refers to a missing key`)
        set[variable.name] = value
      }
      envs.push({ where: `${file} ${doc.kind} ${doc.metadata.name} container ${container.name}`, set, effective: { ...image, ...set } })
    }
  }
  return envs
}
