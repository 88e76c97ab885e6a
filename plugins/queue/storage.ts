// Where pg-boss keeps Keel's jobs.

/**
 * pg-boss 12's schema, named after the pg-boss major that created it: pg-boss 10's schema ("pgboss",
 * Keel 1.x) cannot be migrated by pg-boss 11 or 12, so pg-boss 12 is installed beside it and the jobs
 * still waiting there are moved over (upgrade.ts). Tests and SQL read jobs from `pgboss_v12.job`.
 */
export const QUEUE_SCHEMA = 'pgboss_v12'
