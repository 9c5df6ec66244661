import type { JobInsert } from 'pg-boss'
import { listen } from '../db/listen.ts'
import { inTransaction } from '../db/pool.ts'
import type { Queryable } from '../db/queryable.ts'
import type { PipelineContext } from '../pipeline/context.ts'
import { inboundRow, insertJobs } from '../pipeline/jobs.ts'
import { INBOUND, MAX_WAITING, PRIORITY } from '../queue/queues.ts'
import { BACKLOG_CHANNEL, backlogSystems, take } from './backlog.ts'

type Ctx = Pick<PipelineContext, 'pool' | 'boss' | 'systems' | 'log'>

// One pump at a time in all processes together: each system's webhooks become jobs in the
// order they arrived. Any constant of our own.
export const PUMP_LOCK = 7_407_014
// Jobs made in one transaction: ~100 ms of work, so a pass never holds the lock for long.
const PER_PASS = 2_000
// A system without room is looked at again this soon (its jobs are being taken meanwhile).
const ROOM_MS = 50
// After a failed pass (database away), and as a sweep should a notification be missed.
const RETRY_MS = 1_000

/**
 * Turn webhooks from the backlog into inbound jobs, in one transaction that deletes them there:
 * for each system, as many as keep its waiting jobs under MAX_WAITING, so a burst of a million
 * webhooks leaves the job table (and pg-boss's fetch over it) small, and one system's backlog
 * never holds back another's. `held` says a system had webhooks and no room.
 */
export async function pumpBacklog (ctx: Ctx): Promise<{ moved: number, held: boolean }> {
  return await inTransaction(ctx.pool, async tx => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [PUMP_LOCK])
    const systems = await backlogSystems(tx)
    if (!systems.length) return { moved: 0, held: false }
    const waiting = await waitingJobs(tx, systems)
    // Each system its share of the pass, so a large backlog never keeps another's waiting.
    const share = Math.ceil(PER_PASS / systems.length)
    const rows: JobInsert[] = []
    let held = false
    for (const id of systems) {
      const room = Math.min(MAX_WAITING - (waiting.get(id) ?? 0), share)
      if (room <= 0) {
        held = true
        continue
      }
      // A system deleted since: its jobs still go out, and fail as "not configured".
      const system = await ctx.systems.get(id)
      for (const t of await take(tx, id, room)) rows.push({ ...inboundRow(t.job, system), id: t.jobId })
    }
    await insertJobs(ctx.boss, INBOUND, rows, tx)
    return { moved: rows.length, held }
  })
}

/** Live inbound jobs waiting to be started, per system (group). */
async function waitingJobs (db: Queryable, systems: string[]): Promise<Map<string, number>> {
  const { rows } = await db.query<{ system: string, n: number }>(
    `SELECT group_id AS system, count(*)::int AS n FROM pgboss.job
     WHERE name = $1 AND state = 'created' AND priority = $2 AND group_id = ANY($3) GROUP BY 1`,
    [INBOUND, PRIORITY.live, systems])
  return new Map(rows.map(r => [r.system, r.n]))
}

/**
 * Pump in this process: woken by each commit that adds to the backlog (LISTEN), again while a
 * pass moves anything, after ROOM_MS while a system waits for room (commits meanwhile do not
 * wake it: with no room a pass would only count the waiting jobs again), and every RETRY_MS
 * regardless.
 */
export async function startPump (ctx: Ctx): Promise<{ stop (): Promise<void> }> {
  let stopped = false
  let again = false
  let running = false
  let pass = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  let waitingForRoom = false
  const later = (ms: number) => {
    clearTimeout(timer)
    timer = setTimeout(() => { waitingForRoom = false; kick() }, ms).unref()
  }
  async function run (): Promise<void> {
    running = true
    try {
      while (again && !stopped) {
        again = false
        try {
          const { moved, held } = await pumpBacklog(ctx)
          if (moved) again = true
          else if (held) {
            waitingForRoom = true
            later(ROOM_MS)
          }
        } catch (err) {
          ctx.log.error({ err }, 'webhook backlog: not made into jobs this time')
          later(RETRY_MS)
        }
      }
    } finally {
      running = false
    }
  }
  function kick (): void {
    again = true
    if (!running && !stopped) pass = run()
  }
  const listener = await listen(ctx.pool, BACKLOG_CHANNEL, () => { if (!waitingForRoom) kick() }, ctx.log)
  const sweep = setInterval(kick, RETRY_MS).unref()
  kick()
  return {
    async stop () {
      stopped = true
      clearInterval(sweep)
      clearTimeout(timer)
      await listener.close()
      await pass
    }
  }
}
