// Upgrading in place from Keel 1.x, whose jobs are in pg-boss 10's schema "pgboss". pg-boss 11 and 12
// cannot migrate that schema (https://github.com/timgit/pg-boss/issues/590, /issues/668: "Version 24
// not found"); their maintainer's own cutover installs the new major in a schema of its own and copies
// the jobs still waiting (supabase/storage#1198). Keel does the same, continuously and safely while
// 1.x processes still run: pg-boss 12 lives in QUEUE_SCHEMA, and every worker moves the jobs that 1.x
// left waiting in "pgboss", a batch per statement that deletes them there and inserts them here with
// their id, payload, retry count, backoff and start time. A job runs once: a 1.x worker either claims
// it first (it is then active there, stays, and that worker settles it) or never sees it (SKIP LOCKED).
// An active job whose time ran out (its worker died) moves as it is, and pg-boss 12's supervisor
// expires it into a retry or its dead-letter queue, as pg-boss 10's would have. 1.x's cron rows for the
// schedules this release declares are deleted, so a 1.x instance still running does not fire them too.
// This file can go in the first release that no longer supports upgrading from Keel 1.x.
import type { Db } from 'pg-boss'
import type { FastifyBaseLogger } from 'fastify'
import { QUEUE_SCHEMA } from './storage.js'

/** pg-boss 10's schema, as Keel 1.x named it. */
export const PG_BOSS_10_SCHEMA = 'pgboss'
/** pg-boss 10.0 to 10.4 (schema versions 21 to 24) share the job table layout read here. */
const PG_BOSS_10_VERSIONS = [21, 24] as const
const BATCH = 1000
export const LEGACY_DRAIN_INTERVAL_MS = 5_000

const OLD = PG_BOSS_10_SCHEMA
const NEW = QUEUE_SCHEMA

// One statement: the batch is locked (skipping rows a 1.x worker is claiming), copied, and deleted.
const MOVE = `
  WITH picked AS (
    SELECT j.* FROM ${OLD}.job j
    WHERE j.name = ANY($1::text[])
      AND (j.state < 'active' OR (j.state = 'active' AND j.started_on + j.expire_in < now()))
    ORDER BY j.created_on
    LIMIT ${BATCH}
    FOR UPDATE SKIP LOCKED
  ), moved AS (
    INSERT INTO ${NEW}.job (
      id, name, priority, data, state, retry_limit, retry_count, retry_delay, retry_backoff, retry_delay_max,
      start_after, started_on, singleton_key, singleton_on, expire_seconds, deletion_seconds, created_on,
      keep_until, output, dead_letter, policy
    )
    SELECT p.id, p.name, p.priority, p.data, p.state::text::${NEW}.job_state, p.retry_limit, p.retry_count,
      p.retry_delay, p.retry_backoff, q.retry_delay_max, p.start_after, p.started_on, p.singleton_key,
      p.singleton_on, GREATEST(1, CEIL(EXTRACT(epoch FROM p.expire_in)))::int, q.deletion_seconds, p.created_on,
      p.keep_until, p.output, q.dead_letter, q.policy
    FROM picked p JOIN ${NEW}.queue q ON q.name = p.name
    ON CONFLICT DO NOTHING
    RETURNING id, name
  )
  DELETE FROM ${OLD}.job j USING moved m WHERE j.name = m.name AND j.id = m.id
  RETURNING j.name`

export interface Pg10Drain {
  /** One pass now: move what is waiting, drop the 1.x schedules this release owns. */
  pass(): Promise<{ moved: number }>
  stop(): Promise<void>
}

export interface Pg10DrainOptions {
  db: Db
  /** Every queue this release declares (dead-letter queues included). */
  queues: () => string[]
  /** The queues this release runs on a schedule. */
  schedules: () => string[]
  log: FastifyBaseLogger
  intervalMs?: number
}

/** Whether `pgboss` holds pg-boss 10's tables (a database Keel 1.x used). */
async function hasPgBoss10(db: Db): Promise<boolean> {
  const { rows } = await db.executeSql(`SELECT to_regclass('${OLD}.version') IS NOT NULL AS present`)
  if (!(rows[0] as { present: boolean } | undefined)?.present) return false
  const { rows: versions } = await db.executeSql(`SELECT max(version)::int AS version FROM ${OLD}.version`)
  const version = (versions[0] as { version: number | null } | undefined)?.version ?? 0
  return version >= PG_BOSS_10_VERSIONS[0] && version <= PG_BOSS_10_VERSIONS[1]
}

/**
 * Move Keel 1.x's waiting jobs into pg-boss 12, now and every `intervalMs` while the pg-boss 10
 * schema exists (1.x processes may still be enqueueing there). Resolves once the first pass is done;
 * undefined when there is no pg-boss 10 schema.
 */
export async function drainPgBoss10(opts: Pg10DrainOptions): Promise<Pg10Drain | undefined> {
  const { db, log } = opts
  if (!(await hasPgBoss10(db))) return undefined
  const warned = new Set<string>()
  let announcedEmpty = false
  let total = 0

  const pass = async () => {
    let moved = 0
    const names = opts.queues()
    for (;;) {
      const { rows } = await db.executeSql(MOVE, [names])
      moved += rows.length
      if (rows.length > 0) {
        const byQueue: Record<string, number> = {}
        for (const { name } of rows as { name: string }[]) byQueue[name] = (byQueue[name] ?? 0) + 1
        log.info({ moved: byQueue }, `moved ${rows.length} waiting job(s) from pg-boss 10 (schema ${OLD}) to pg-boss 12`)
      }
      if (rows.length < BATCH) break
    }
    total += moved
    await db.executeSql(`DELETE FROM ${OLD}.schedule WHERE name = ANY($1::text[])`, [opts.schedules()])
    // What this release cannot move: jobs of queues it no longer declares.
    const { rows: left } = await db.executeSql(
      `SELECT name, count(*)::int AS count FROM ${OLD}.job
       WHERE state < 'completed' AND name <> ALL($1::text[]) AND name NOT LIKE '\\_\\_pgboss\\_\\_%' GROUP BY name`,
      [names],
    )
    for (const { name, count } of left as { name: string; count: number }[]) {
      if (warned.has(name)) continue
      warned.add(name)
      log.warn(
        { queue: name, jobs: count },
        `pg-boss 10 schema ${OLD} holds ${count} job(s) of queue ${name}, which this release does not declare: they are left there`,
      )
    }
    if (moved === 0 && !announcedEmpty) {
      const { rows: waiting } = await db.executeSql(
        `SELECT count(*)::int AS count FROM ${OLD}.job WHERE state < 'completed' AND name = ANY($1::text[])`,
        [names],
      )
      if ((waiting[0] as { count: number }).count === 0) {
        announcedEmpty = true
        log.info(
          { movedInAll: total },
          `the pg-boss 10 schema ${OLD} has no job left to move: once no Keel 1.x process runs, drop it with DROP SCHEMA ${OLD} CASCADE`,
        )
      }
    }
    return { moved }
  }

  await pass()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> = Promise.resolve()
  let stopped = false
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      running = (async () => {
        try {
          if (!(await hasPgBoss10(db))) return // dropped by the operator: nothing more to do
          await pass()
        } catch (err) {
          log.warn({ err }, `moving jobs from pg-boss 10 (schema ${OLD}) failed; trying again`)
        }
        schedule()
      })()
    }, opts.intervalMs ?? LEGACY_DRAIN_INTERVAL_MS)
    timer.unref()
  }
  schedule()
  return {
    pass,
    async stop() {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
