import type { JobInsert, PgBoss } from 'pg-boss'
import { prepared } from '../db/prepared.ts'
import type { Queryable } from '../db/queryable.ts'
import type { InboundJob } from '../pipeline/jobs.ts'
import { insertJobs } from '../pipeline/jobs.ts'
import { INBOUND } from '../queue/queues.ts'

/** The channel a commit that added to the backlog notifies; the pump listens on it. */
export const BACKLOG_CHANNEL = 'hub_backlog'

// A row is coalesced (not inserted) when the record already has a fetch (or a delete) waiting:
// in the backlog (the unique index), or as a job not yet started (the same singletonKey pg-boss's
// stately policy coalesces on), looked up by key in pg-boss's index (written as NOT EXISTS, the
// planner scanned every waiting job instead). One statement: no transaction is needed for it alone.
const ADD = `WITH added AS (
    INSERT INTO hub.hook_backlog (job_id, system_id, type, record_id, action)
    SELECT u.job_id, u.system_id, u.type, u.record_id, u.action
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(job_id, system_id, type, record_id, action, key)
    WHERE u.key <> ALL (ARRAY(SELECT singleton_key FROM pgboss.job WHERE name = '${INBOUND}' AND state = 'created' AND singleton_key = ANY($6)))
    ON CONFLICT DO NOTHING
    RETURNING job_id)
  SELECT job_id, pg_notify('${BACKLOG_CHANNEL}', '') FROM added`

/**
 * Store webhooks' inbound rows (from inboundRow): debug items become jobs at once (they jump the
 * queue, and are never coalesced); the others go to the backlog. Returns the ids stored, the
 * coalesced rows' ids absent. Runs in the caller's transaction, or alone when it is one statement.
 */
export async function accept (boss: PgBoss, rows: JobInsert[], db: Queryable): Promise<Set<string>> {
  const debug = rows.filter(r => (r.data as InboundJob).debug)
  // In key order: two commits inserting the same records wait on each other's rows in one order,
  // where in the senders' orders each could hold a row the other waits for (a deadlock).
  const live = rows.filter(r => !(r.data as InboundJob).debug).sort((a, b) => a.singletonKey! < b.singletonKey! ? -1 : a.singletonKey! > b.singletonKey! ? 1 : 0)
  const stored = debug.length ? await insertJobs(boss, INBOUND, debug, db) : new Set<string>()
  if (!live.length) return stored
  const jobs = live.map(r => r.data as InboundJob)
  const { rows: added } = await db.query<{ job_id: string }>({
    ...prepared(ADD),
    values: [live.map(r => r.id), jobs.map(j => j.system), jobs.map(j => j.type), jobs.map(j => j.id), jobs.map(j => j.action), live.map(r => r.singletonKey)]
  })
  for (const r of added) stored.add(r.job_id)
  return stored
}

/** Whether `accept` stores these rows in one statement (all debug or none): no transaction needed. */
export const oneStatement = (rows: JobInsert[]) => {
  const debug = rows.filter(r => (r.data as InboundJob).debug).length
  return debug === 0 || debug === rows.length
}

export interface Taken { jobId: string, job: InboundJob }

/** The systems with webhooks in the backlog (a loose index scan: one probe per system). */
export async function backlogSystems (db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ system_id: string }>(prepared(`WITH RECURSIVE s AS (
      (SELECT system_id FROM hub.hook_backlog ORDER BY system_id LIMIT 1)
      UNION ALL
      SELECT (SELECT b.system_id FROM hub.hook_backlog b WHERE b.system_id > s.system_id ORDER BY b.system_id LIMIT 1) FROM s WHERE s.system_id IS NOT NULL)
    SELECT system_id FROM s WHERE system_id IS NOT NULL`))
  return rows.map(r => r.system_id)
}

/** Take (delete) a system's `limit` oldest webhooks, in arrival order; the caller's transaction makes them jobs. */
export async function take (db: Queryable, systemId: string, limit: number): Promise<Taken[]> {
  const { rows } = await db.query<{ n: number, job_id: string, type: InboundJob['type'], record_id: string, action: InboundJob['action'] }>({
    ...prepared(`DELETE FROM hub.hook_backlog WHERE system_id = $1 AND n IN (
        SELECT n FROM hub.hook_backlog WHERE system_id = $1 ORDER BY n LIMIT $2)
      RETURNING n, job_id, type, record_id, action`),
    values: [systemId, limit]
  })
  return rows.sort((a, b) => a.n - b.n).map(r => ({ jobId: r.job_id, job: { system: systemId, type: r.type, action: r.action, id: r.record_id } }))
}
