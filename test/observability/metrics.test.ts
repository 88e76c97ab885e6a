// What operators get from /metrics: every metric the shipped alert rules and dashboard name is one
// /metrics exports; job durations, queue lag and dead-lettered jobs; /metrics served only to a scraper
// (METRICS_TOKEN; off in production without one); its database reads cached; /docs switchable.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { build, buildOffline } from '../helpers/build.js'
import { createUser } from '../helpers/auth.js'
import { waitFor } from '../helpers/wait.js'
import { projectRoot } from '../../src/lib/paths.js'
import { defineJob, QUEUE_SCHEMA } from '../../plugins/queue/index.js'
import { Type } from '@sinclair/typebox'

/** Metrics that other deployments add: the replica's lag exists only where a replica is measured. */
const NOT_FROM_THIS_PROCESS = new Set(['keel_db_replica_lag_seconds'])

const namesIn = (text: string) => new Set(text.match(/\bkeel_[a-z0-9_]+/g) ?? [])

function namedByRulesAndDashboard(): Set<string> {
  const rules = parse(readFileSync(join(projectRoot, 'deploy/prometheus/alerts.yml'), 'utf8')) as {
    groups: { rules: { expr: string }[] }[]
  }
  const dashboard = JSON.parse(readFileSync(join(projectRoot, 'deploy/grafana/keel.json'), 'utf8')) as {
    panels: { targets: { expr: string }[] }[]
    templating: { list: { query?: unknown }[] }
  }
  const exprs = [
    ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)),
    ...dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr)),
    ...dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : '')),
  ]
  return new Set(exprs.flatMap((e) => [...namesIn(e)]))
}

/** Every series name /metrics can show: each TYPE line's name, and a histogram's _bucket, _count and _sum. */
function exported(body: string): Set<string> {
  const names = new Set<string>()
  for (const [, name, type] of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!)
    if (type === 'histogram' || type === 'summary') for (const s of ['_bucket', '_count', '_sum']) names.add(name! + s)
  }
  return names
}

t.test('every metric the alert rules and the dashboard name is exported by /metrics', async (t) => {
  const app = await build(t)
  const user = await createUser(app)
  await app.inject({ method: 'GET', url: '/api/v1/products', headers: user.headers })
  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const names = namedByRulesAndDashboard()
  t.ok(names.size > 10, `the rules and the dashboard name ${names.size} metrics`)
  const missing = [...names].filter((n) => !exported(body).has(n) && !NOT_FROM_THIS_PROCESS.has(n))
  t.same(missing, [], 'none missing from /metrics')
})

t.test('job durations by queue and outcome, queue lag and dead-lettered jobs', async (t) => {
  const app = await build(t, { METRICS_CACHE_MS: 0 })
  await app.jobs.define(
    defineJob({
      name: 'test.metrics-job',
      schema: Type.Object({ fail: Type.Boolean() }),
      queue: { retryLimit: 0, deadLetter: 'test.metrics-job-dead' },
      pollingIntervalSeconds: 0.5,
      handler: async ({ fail }) => {
        if (fail) throw new Error('asked to fail')
      },
    }),
  )
  await app.jobs.send('test.metrics-job', { fail: false })
  await app.jobs.send('test.metrics-job', { fail: true })
  const scrape = async () => (await app.inject({ method: 'GET', url: '/metrics' })).body
  const body = await waitFor(
    async () => {
      const text = await scrape()
      return /keel_jobs_dead_lettered\{queue="test.metrics-job-dead"\} 1/.test(text) ? text : undefined
    },
    { what: 'the failed job in its dead-letter queue', timeoutMs: 30_000 },
  )
  t.match(body, /keel_job_duration_seconds_count\{queue="test\.metrics-job",outcome="completed"\} 1/)
  t.match(body, /keel_job_duration_seconds_count\{queue="test\.metrics-job",outcome="failed"\} 1/)
  t.match(body, /keel_queue_lag_seconds\{queue="test\.metrics-job"\} 0/, 'nothing waiting: no lag')

  // A job that could have run a minute ago and is still waiting: a minute of lag.
  await app.jobs.define(defineJob({ name: 'test.metrics-idle', schema: Type.Object({}), handler: async () => {} }))
  await app.jobs.boss.offWork('test.metrics-idle')
  await app.jobs.send('test.metrics-idle', {})
  await app.sql.unsafe(`update ${QUEUE_SCHEMA}.job set start_after = now() - interval '60 seconds' where name = 'test.metrics-idle'`)
  const lag = Number(/keel_queue_lag_seconds\{queue="test\.metrics-idle"\} (\S+)/.exec(await scrape())?.[1])
  t.ok(lag >= 60 && lag < 600, `lag of the waiting job: ${lag} s`)
})

t.test('/metrics reads the job table at most once per METRICS_CACHE_MS, however often it is asked', async (t) => {
  const app = await build(t, { METRICS_CACHE_MS: 600_000 })
  await app.jobs.define(defineJob({ name: 'test.metrics-cached', schema: Type.Object({}), handler: async () => {} }))
  await app.jobs.boss.offWork('test.metrics-cached')
  const waiting = async () =>
    /keel_jobs\{queue="test\.metrics-cached",state="created"\} (\d+)/.exec((await app.inject({ method: 'GET', url: '/metrics' })).body)?.[1]
  t.equal(await waiting(), '0')
  await app.jobs.send('test.metrics-cached', {})
  const scrapes = await Promise.all(Array.from({ length: 20 }, waiting))
  t.same(new Set(scrapes), new Set(['0']), 'twenty scrapes later, still the first reading')
})

t.test('with METRICS_TOKEN, /metrics answers only a scraper that sends it', async (t) => {
  const token = 'scraper-token-0123456789abcdef'
  const app = await build(t, { METRICS_TOKEN: token })
  const none = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(none.statusCode, 401)
  t.match(none.json(), { success: false, code: 'UNAUTHORIZED' })
  t.notMatch(none.body, /keel_/)
  t.equal(
    (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong-token-0123456789abcd' } })).statusCode,
    401,
  )
  const ok = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })
  t.equal(ok.statusCode, 200)
  t.match(ok.body, /keel_database_up 1/)
})

t.test('in production /metrics is not served without METRICS_TOKEN, and /docs is off unless DOCS_ENABLED', async (t) => {
  const production = await buildOffline(t, { NODE_ENV: 'production' })
  await production.ready()
  t.equal((await production.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
  t.equal((await production.inject({ method: 'GET', url: '/docs' })).statusCode, 404)
  t.equal((await production.inject({ method: 'GET', url: '/docs/json' })).statusCode, 404)

  const withDocs = await buildOffline(t, { NODE_ENV: 'production', DOCS_ENABLED: true })
  await withDocs.ready()
  t.equal((await withDocs.inject({ method: 'GET', url: '/docs/json' })).statusCode, 200, 'DOCS_ENABLED=true serves them in production')

  const development = await buildOffline(t, { NODE_ENV: 'development' })
  await development.ready()
  t.equal((await development.inject({ method: 'GET', url: '/docs/json' })).statusCode, 200, 'on by default in development')
  const noDocs = await buildOffline(t, { NODE_ENV: 'development', DOCS_ENABLED: false })
  await noDocs.ready()
  t.equal((await noDocs.inject({ method: 'GET', url: '/docs/json' })).statusCode, 404, 'DOCS_ENABLED=false switches them off')
})
