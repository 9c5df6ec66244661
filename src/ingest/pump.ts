import { setTimeout as sleep } from 'node:timers/promises'
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
// Passes that are not full start at most this often: under steady load each commit woke a pass
// of a few rows, ~90 passes a second of 7 statements each (5,000 webhooks at 500/s).
const MIN_PERIOD_MS = 20
// A system's waiting jobs are counted again after this long, or once the estimate passes half
// of MAX_WAITING: well below it, being a little off costs nothing, and counting ~2,000 rows a
// pass was one of a pass's costliest statements.
const COUNT_MS = 250

/**
 * Turn webhooks from the backlog into inbound jobs, in one transaction that deletes them there:
 * for each system, as many as keep its waiting jobs under MAX_WAITING, so a burst of a million
 * webhooks leaves the job table (and pg-boss's fetch over it) small, and one system's backlog
 * never holds back another's. `held` says a system had webhooks and no room.
 */
export async function pumpBacklog (ctx: Ctx, waiting = waitingEstimates()): Promise<{ moved: number, held: boolean }> {
  return await inTransaction(ctx.pool, async tx => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [PUMP_LOCK])
    const systems = await backlogSystems(tx)
    if (!systems.length) return { moved: 0, held: false }
    await waiting.refresh(tx, systems)
    // Each system its share of the pass, so a large backlog never keeps another's waiting.
    const share = Math.ceil(PER_PASS / systems.length)
    const rows: JobInsert[] = []
    let held = false
    for (const id of systems) {
      const room = Math.min(MAX_WAITING - waiting.of(id), share)
      if (room <= 0) {
        held = true
        continue
      }
      // A system deleted since: its jobs still go out, and fail as "not configured".
      const system = await ctx.systems.get(id)
      const taken = await take(tx, id, room)
      for (const t of taken) rows.push({ ...inboundRow(t.job, system), id: t.jobId })
      waiting.add(id, taken.length)
    }
    await insertJobs(ctx.boss, INBOUND, rows, tx)
    return { moved: rows.length, held }
  })
}

/**
 * Each system's live inbound jobs waiting to be started, as last counted plus the jobs made
 * since (an estimate: workers take jobs meanwhile, and other processes make some).
 */
export function waitingEstimates () {
  const known = new Map<string, { n: number, at: number }>()
  return {
    /** Count the systems whose estimate is missing, old, or near MAX_WAITING. */
    async refresh (db: Queryable, systems: string[]): Promise<void> {
      const now = Date.now()
      const due = systems.filter(id => {
        const k = known.get(id)
        return !k || now - k.at > COUNT_MS || k.n > MAX_WAITING / 2
      })
      if (!due.length) return
      const { rows } = await db.query<{ system: string, n: number }>(
        `SELECT group_id AS system, count(*)::int AS n FROM pgboss.job
         WHERE name = $1 AND state = 'created' AND priority = $2 AND group_id = ANY($3) GROUP BY 1`,
        [INBOUND, PRIORITY.live, due])
      const counted = new Map(rows.map(r => [r.system, r.n]))
      for (const id of due) known.set(id, { n: counted.get(id) ?? 0, at: now })
    },
    of: (id: string) => known.get(id)?.n ?? 0,
    add (id: string, made: number) {
      const k = known.get(id)
      if (k) k.n += made
    }
  }
}

/**
 * Pump in this process: woken by each commit that adds to the backlog (LISTEN), again after a
 * full pass, after ROOM_MS while a system waits for room (commits meanwhile do not
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
  let lastStart = 0
  let full = false
  const waiting = waitingEstimates()
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
          const wait = lastStart + MIN_PERIOD_MS - Date.now()
          if (!full && wait > 0) await sleep(wait)
          if (stopped) break
          lastStart = Date.now()
          const { moved, held } = await pumpBacklog(ctx, waiting)
          // A full pass may have left rows; otherwise every commit since notifies (sets again).
          full = moved >= PER_PASS
          if (full) again = true
          else if (held) {
            waitingForRoom = true
            later(ROOM_MS)
          }
        } catch (err) {
          // The sweep tries again within RETRY_MS.
          ctx.log.error({ err }, 'webhook backlog: not made into jobs this time')
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
