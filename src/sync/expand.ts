import type { PgBoss } from 'pg-boss'
import type { Logger } from 'pino'
import type { DataType } from '../models/index.ts'
import { inTransaction } from '../db/pool.ts'
import type { Pool, PoolClient } from '../db/pool.ts'
import { insertJobs } from '../pipeline/jobs.ts'
import { INBOUND, OUTBOUND } from '../queue/queues.ts'
import type { SystemRegistry } from '../stores/systems.ts'
import { jobsFor, takeItems } from './items.ts'

type Ctx = { pool: Pool, boss: PgBoss, systems: Pick<SystemRegistry, 'get'>, log: Logger }

// How often each worker process looks for room: a batch's MAX_WAITING jobs last longer than this.
const EVERY_MS = 500

interface Batch { id: string, direction: 'inbound' | 'outbound', system_id: string, target_id: string | null, type: DataType, debug: boolean, max_waiting: number, chunk_offset: number }

/**
 * One pass over the batches with ids still stored: each gets one step, unless another process
 * is stepping it (SKIP LOCKED), so any number of worker processes can run this at once.
 * Returns the ids turned into jobs.
 */
export async function expandBatches (ctx: Ctx): Promise<number> {
  const stepped: string[] = []
  let total = 0
  for (;;) {
    const n = await inTransaction(ctx.pool, async tx => {
      const { rows: [batch] } = await tx.query<Batch>(
        `SELECT id, direction, system_id, target_id, type, debug, max_waiting, chunk_offset FROM hub.sync_batches
         WHERE expanded < items AND id <> ALL($1::uuid[]) ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED`, [stepped])
      if (!batch) return undefined
      stepped.push(batch.id)
      return await step(ctx, tx, batch)
    })
    if (n === undefined) return total
    total += n
  }
}

/**
 * Top the batch's waiting jobs up to max_waiting, in the transaction that holds the batch's row:
 * the ids' jobs are inserted and the batch's cursor and counters move in one commit, so a
 * process killed mid-step leaves the batch as it was.
 */
async function step (ctx: Ctx, tx: PoolClient, batch: Batch): Promise<number> {
  // Inbound batches count their deliveries too: a slow destination holds the fetches back
  // rather than letting deliveries pile up in the job table.
  const queues = batch.direction === 'inbound' ? [INBOUND, OUTBOUND] : [OUTBOUND]
  const { rows: [{ waiting }] } = await tx.query<{ waiting: number }>(
    `SELECT coalesce(max(n), 0)::int AS waiting FROM (
       SELECT count(*) AS n FROM pgboss.job WHERE name = ANY($2) AND state < 'active' AND data->>'batchId' = $1 GROUP BY name) w`,
    [batch.id, queues])
  const room = batch.max_waiting - waiting
  if (room <= 0) return 0
  const { items, offset } = await takeItems(tx, batch.id, batch.chunk_offset, room)
  const plan = {
    direction: batch.direction,
    type: batch.type,
    debug: batch.debug,
    systemId: batch.system_id,
    targetId: batch.target_id ?? undefined,
    system: batch.system_id ? await ctx.systems.get(batch.system_id) : undefined,
    target: batch.target_id ? await ctx.systems.get(batch.target_id) : undefined
  }
  const { queue, rows } = jobsFor(plan, batch.id, items)
  const inserted = await insertJobs(ctx.boss, queue, rows, tx)
  const coalesced = rows.length - inserted.size
  await tx.query('UPDATE hub.sync_batches SET expanded = expanded + $2, queued = queued - $3, coalesced = coalesced + $3, chunk_offset = $4 WHERE id = $1',
    [batch.id, rows.length, coalesced, offset])
  return rows.length
}

/** Expand batches every EVERY_MS in this process, until stopped. */
export function startExpander (ctx: Ctx, everyMs = EVERY_MS): { stop (): Promise<void> } {
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let pass = Promise.resolve()
  const tick = () => {
    pass = expandBatches(ctx)
      .then(() => {}, err => ctx.log.error({ err }, 'manual sync: stored ids not turned into jobs this time'))
      .finally(() => { if (!stopped) timer = setTimeout(tick, everyMs).unref() })
  }
  timer = setTimeout(tick, everyMs).unref()
  return {
    async stop () {
      stopped = true
      clearTimeout(timer)
      await pass
    }
  }
}
