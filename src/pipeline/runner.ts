import { createHash } from 'node:crypto'
import type { JobInsert, JobResult, PgBoss } from 'pg-boss'
import type { Logger } from 'pino'
import { batcher } from '../db/batcher.ts'
import { inTransaction } from '../db/pool.ts'
import type { Pool, PoolClient } from '../db/pool.ts'
import { prepared } from '../db/prepared.ts'
import type { Queryable } from '../db/queryable.ts'
import { groupConcurrency, HEARTBEAT_SECONDS, PRIORITY, tierLimit } from '../queue/queues.ts'
import type { PipelineContext } from './context.ts'
import { runJob } from './run-job.ts'
import type { JobSpec, RunnableJob } from './run-job.ts'

// Nothing wakes a loop when a deferred job (a retry, a held delivery) falls due: look that often.
const POLL_MS = 1_000
// A loop whose fetch failed (the database away) tries again after this, doubling up to the cap.
const RETRY_MS = 500
const MAX_RETRY_MS = 5_000
const MAX_FETCH = 64
// Beyond a queue's capacity a process still takes this many live (webhook) jobs, and this many
// debug jobs beyond those, so a manual sync filling the capacity never holds back either.
const LIVE_ROOM = 32
const DEBUG_ROOM = 8
// With every group it knows full, a process still asks for any job this often: a system none of
// whose jobs ran here has a group it does not know, and its first job waited behind the whole
// queue of the systems it did know (104 s behind ~2,000 of a system allowed 4 at once).
export const PROBE_MS = 2_000

export interface RunnerQueue {
  spec: JobSpec<any>
  /** Jobs this process runs at once (fetched and claimed together). */
  capacity: number
}

/**
 * Deliveries of a write, taken by this process in the transaction that inserts them. `reserve`
 * picks the rows there is room for (before the insert), `activate` marks them running in that
 * transaction, and once it has committed `run` starts them; `drop` gives the room back when it
 * rolled back.
 */
export interface Claim {
  reserve (queue: string, rows: JobInsert[]): JobInsert[]
  activate (db: Queryable, queue: string, rows: JobInsert[]): Promise<void>
  run (): void
  drop (): void
}

export interface Runner {
  claim (): Claim
  /** Fetch no more; wait up to `graceMs` for the running jobs, then hand what is left back to the queue. */
  stop (graceMs: number): Promise<void>
}

interface Queue extends RunnerQueue {
  running: Map<string, RunnableJob<any>>
  /** Per system (group): jobs running or reserved by a claim. */
  bySystem: Map<string, number>
  /** Every system (group) this queue has run a job of, with its group concurrency. */
  groups: Map<string, number>
  reserved: number
  wake: () => void
  sleeping?: { timer: NodeJS.Timeout, resolve: () => void }
  /** Woken while fetching: the fetch may have missed what the wake was for. */
  woken: boolean
  /** When it last asked for any job with every group it knows full (PROBE_MS). */
  probedAt: number
  loop?: Promise<void>
}

interface Settlement { queue: string, job: RunnableJob<any>, result: JobResult }

// pg-boss's NOTIFY channel (plans.notifyChannelSql): the queue's name is the payload.
const channelOf = (schema: string) => 'pgboss_' + createHash('sha224').update(schema).digest('hex').slice(0, 24)

/**
 * The pipeline's job runner: a continuous stream rather than pg-boss's batches. A batch's jobs
 * stay active (and count against their system's group concurrency) until the slowest of them is
 * done; here each job is completed as soon as it ends, together with whatever else ended
 * meanwhile (one statement), and its room is fetched again at once. Each queue has one fetch
 * loop, woken by pg-boss's NOTIFY and by completions, fetching highest priority first with the
 * systems' group concurrency; heartbeats are refreshed for every running job in one statement.
 * Deliveries a write fans out can be claimed by this process in the write's own transaction
 * (`claim`), so they start the moment it commits, with no fetch at all; those it has no room
 * for stay queued for any process.
 */
export function startRunner (ctx: PipelineContext, queues: RunnerQueue[]): Runner {
  const { boss, pool, log } = ctx
  let stopping = false
  const byName = new Map<string, Queue>()
  for (const q of queues) {
    const queue: Queue = { ...q, running: new Map(), bySystem: new Map(), groups: new Map(), reserved: 0, wake: () => {}, woken: false, probedAt: Date.now() }
    queue.wake = () => {
      const s = queue.sleeping
      if (!s) {
        queue.woken = true
        return
      }
      queue.sleeping = undefined
      clearTimeout(s.timer)
      s.resolve()
    }
    byName.set(q.spec.queue, queue)
  }

  // The table pg-boss keeps a queue's jobs in: updating the partitioned parent costs a partition
  // lookup per statement.
  const tables = new Map<string, Promise<string>>()
  const tableOf = (queue: string) => {
    let table = tables.get(queue)
    if (!table) {
      tables.set(queue, table = pool.query<{ table_name: string }>('SELECT table_name FROM pgboss.queue WHERE name = $1', [queue])
        .then(({ rows: [row] }) => `pgboss.${row?.table_name ?? 'job'}`))
      table.catch(() => tables.delete(queue))
    }
    return table
  }

  const count = (q: Queue, system: string | null | undefined, n: number) => {
    if (!system) return
    const now = (q.bySystem.get(system) ?? 0) + n
    if (now) q.bySystem.set(system, now)
    else q.bySystem.delete(system)
  }

  const settle = batcher(async (items: Settlement[]) => {
    for (const group of Map.groupBy(items, s => `${s.queue}\n${s.result.status}`).values()) {
      const { queue, result: { status } } = group[0]
      if (status === 'completed') await completeJobs(pool, await tableOf(queue), queue, group)
      else await failJobs(pool, boss, queue, group, status === 'deadletter')
    }
    return items.map(() => undefined)
  }, { maxParallel: 2 })

  /**
   * How many more jobs pg-boss could hand this queue within the group concurrency of the systems
   * it has seen, counting this process's own jobs only (other processes' make it less).
   */
  const groupRoom = (q: Queue) => {
    let room = 0
    for (const [system, limit] of q.groups) room += Math.max(0, limit - (q.bySystem.get(system) ?? 0))
    return q.groups.size ? room : Infinity
  }

  function start (q: Queue, job: RunnableJob<any>, fetched = true): void {
    q.running.set(job.id, job)
    count(q, job.groupId, 1)
    if (job.groupId) q.groups.set(job.groupId, tierLimit(job.groupTier))
    void runJob(ctx, q.spec, job)
      .catch((err: Error): JobResult => {
        // The job's own failure is handled inside runJob; this is its bookkeeping failing (the
        // database away while it logged the error, say): pg-boss runs it again.
        log.warn({ err, jobId: job.id, queue: q.spec.queue }, 'job failed to settle; pg-boss retries it')
        return { id: job.id, status: 'failed', output: { error: err.message } }
      })
      .then(result => settle({ queue: q.spec.queue, job, result }))
      // A completion the database refused leaves the job active: its heartbeat lapses and it runs
      // again, which every job's effects allow.
      .catch(err => log.warn({ err, jobId: job.id, queue: q.spec.queue }, 'job not marked completed; it will run again'))
      .finally(() => {
        q.running.delete(job.id)
        count(q, job.groupId, -1)
        // Its room, and its system's group capacity, are free now: a fetch may find what the
        // last one could not take. A claimed job's end says nothing of the queue (in a burst its
        // deliveries are nearly all claimed, and each end sent the loop on an empty fetch),
        // unless it reopens its system's group.
        const reopened = !!job.groupId && (q.bySystem.get(job.groupId) ?? 0) === tierLimit(job.groupTier) - 1
        if (fetched || reopened || q.running.size + q.reserved >= q.capacity) q.wake()
        if (stopping && idle()) drained()
      })
  }

  async function fetchLoop (q: Queue): Promise<void> {
    let retryMs = RETRY_MS
    while (!stopping) {
      const held = q.running.size + q.reserved
      // Past the capacity only higher priorities are taken, a few more.
      let [minPriority, limit]: [number | undefined, number] = held < q.capacity
        ? [undefined, q.capacity - held]
        : held < q.capacity + LIVE_ROOM
          ? [PRIORITY.live, q.capacity + LIVE_ROOM - held]
          : [PRIORITY.debug, q.capacity + LIVE_ROOM + DEBUG_ROOM - held]
      // Asked for more than its systems' groups allow, pg-boss walks the whole backlog looking for
      // them (90-240 ms a fetch behind 50,000 queued deliveries, all of it in vain when every
      // group is full). So it is asked for no more than that; with every group full, only for
      // debug jobs, which belong to no group, but every PROBE_MS for any job (of a system this
      // process has not seen yet).
      const room = groupRoom(q)
      if (room === 0) {
        if (Date.now() - q.probedAt >= PROBE_MS) q.probedAt = Date.now()
        else minPriority = PRIORITY.debug
      }
      const batchSize = Math.min(MAX_FETCH, limit, room === 0 ? DEBUG_ROOM : room)
      let fetched = 0
      let waitMs = POLL_MS
      q.woken = false
      if (batchSize > 0) {
        try {
          const jobs = await boss.fetch(q.spec.queue, { batchSize, includeMetadata: true, groupConcurrency, minPriority })
          fetched = jobs.length
          // Run them even if a stop began meanwhile: they are this process's now (active in the
          // table), and would otherwise wait out their heartbeat before another worker took them.
          for (const job of jobs) start(q, job as RunnableJob<any>)
          retryMs = RETRY_MS
        } catch (err) {
          if (!stopping) log.warn({ err, queue: q.spec.queue }, 'fetching jobs failed; trying again')
          waitMs = retryMs
          retryMs = Math.min(MAX_RETRY_MS, retryMs * 2)
        }
      }
      // A full fetch: there is more. A wake during the fetch: what woke it may have come too late for it.
      if ((batchSize > 0 && fetched === batchSize) || (q.woken && waitMs === POLL_MS)) continue
      if (stopping) break
      await new Promise<void>(resolve => { q.sleeping = { resolve, timer: setTimeout(q.wake, waitMs) } })
    }
  }

  // Wake a queue's loop when pg-boss announces a job on it (the payload is the queue's name).
  const listening = boss.getDb().listen?.(channelOf('pgboss'),
    (name: string) => byName.get(name)?.wake(),
    () => byName.forEach(q => q.wake()))
  listening?.catch(err => log.warn({ err }, 'no NOTIFY listener: jobs are found by polling'))
  for (const q of byName.values()) q.loop = fetchLoop(q)

  const heartbeat = setInterval(() => {
    for (const q of byName.values()) {
      const jobs = [...q.running.values()].map(j => ({ id: j.id, retryCount: j.retryCount }))
      for (let i = 0; i < jobs.length; i += 1_000) {
        // A refresh that fails (the database away) is not fatal: the claim lapses, and the job runs again.
        boss.touch(q.spec.queue, jobs.slice(i, i + 1_000)).catch(err => log.warn({ err, queue: q.spec.queue }, 'heartbeat not refreshed'))
      }
    }
  }, HEARTBEAT_SECONDS * 1000 / 2).unref()

  const idle = () => [...byName.values()].every(q => q.running.size === 0 && q.reserved === 0)
  let drained = () => {}

  function claim (): Claim {
    const taken: Array<{ q: Queue, row: JobInsert }> = []
    let settled = false
    const release = () => {
      if (settled) return false
      settled = true
      for (const { q, row } of taken) { q.reserved--; count(q, row.group?.id, -1) }
      return true
    }
    return {
      reserve (queue, rows) {
        const q = byName.get(queue)
        if (!q || stopping || settled) return []
        const picked: JobInsert[] = []
        for (const row of rows) {
          if (q.running.size + q.reserved >= q.capacity) break
          const system = row.group?.id
          // Enough of a system's deliveries to keep its slots busy; the rest wait in the queue.
          if (system && (q.bySystem.get(system) ?? 0) >= 2 * tierLimit(row.group?.tier)) continue
          q.reserved++
          count(q, system, 1)
          taken.push({ q, row })
          picked.push(row)
          // Not due until long after it has run: it wakes no other process's fetch, which
          // would find it taken.
          row.startAfter = new Date(Date.now() + 60_000)
        }
        return picked
      },
      async activate (db, queue, rows) {
        if (!rows.length) return
        await db.query({
          ...prepared(`UPDATE ${await tableOf(queue)} SET state = 'active', started_on = pgboss.job_now(), heartbeat_on = pgboss.job_now()
           WHERE name = $1 AND id = ANY($2::uuid[]) AND state = 'created'`),
          values: [queue, rows.map(r => r.id)]
        })
      },
      run () {
        const mine = [...taken]
        if (!release()) return
        for (const { q, row } of mine) {
          start(q, {
            id: row.id!,
            data: row.data,
            priority: row.priority ?? 0,
            retryCount: 0,
            createdOn: new Date(),
            singletonKey: row.singletonKey ?? null,
            groupId: row.group?.id ?? null,
            groupTier: row.group?.tier ?? null
          } as RunnableJob<any>, false)
        }
      },
      drop () { release() }
    }
  }

  async function stop (graceMs: number): Promise<void> {
    if (stopping) return
    stopping = true
    for (const q of byName.values()) q.wake()
    await Promise.all([...byName.values()].map(q => q.loop))
    if (!idle()) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, graceMs)
        drained = () => { clearTimeout(timer); resolve() }
      })
    }
    clearInterval(heartbeat)
    // Jobs still running after the grace go back to the queue (pg-boss runs them again); their
    // late completions, if any, are fenced out by the attempt.
    for (const q of byName.values()) {
      const left = [...q.running.values()]
      if (left.length) await boss.fail(q.spec.queue, left.map(j => ({ id: j.id, retryCount: j.retryCount })), { error: 'the worker stopped before the job finished' }).catch(() => {})
    }
    await (await listening)?.close().catch(() => {})
  }

  return { claim, stop }
}

/** Complete active jobs of one queue, each with its own output, in one statement (fenced to the attempt that ran). */
async function completeJobs (db: Queryable, table: string, queue: string, items: Settlement[]): Promise<void> {
  await db.query({
    ...prepared(`UPDATE ${table} j SET completed_on = pgboss.job_now(), state = 'completed', output = i.output
     FROM json_to_recordset($2::json) AS i (id uuid, retry_count int, output jsonb)
     WHERE j.name = $1 AND j.id = i.id AND j.state = 'active' AND j.retry_count = i.retry_count`),
    values: [queue, JSON.stringify(items.map(s => ({ id: s.job.id, retry_count: s.job.retryCount, output: s.result.output ?? null })))]
  })
}

/**
 * Fail jobs through pg-boss, which retries them or, once their retries are spent, moves them to
 * the dead letter queue. A dead letter is a job the runner gave up on: its retries are spent first.
 */
async function failJobs (db: Queryable, boss: PgBoss, queue: string, items: Settlement[], terminal: boolean): Promise<void> {
  if (terminal) {
    await db.query(`UPDATE pgboss.job SET retry_limit = retry_count WHERE name = $1 AND id = ANY($2::uuid[]) AND state = 'active'`,
      [queue, items.map(s => s.job.id)])
  }
  for (const s of items) await boss.fail(queue, { id: s.job.id, retryCount: s.job.retryCount }, s.result.output ?? null)
}

/**
 * `fn` in a transaction, with a claim on the deliveries it fans out when this process runs a
 * runner: they start once the transaction has committed, and are given up if it rolls back.
 */
export async function inClaimingTransaction<T> (ctx: { pool: Pool, claims?: () => Claim }, fn: (tx: PoolClient, claim?: Claim) => Promise<T>): Promise<T> {
  const claim = ctx.claims?.()
  try {
    const result = await inTransaction(ctx.pool, tx => fn(tx, claim))
    claim?.run()
    return result
  } catch (err) {
    claim?.drop()
    throw err
  }
}
