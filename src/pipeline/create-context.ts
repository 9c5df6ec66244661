import type { PgBoss } from 'pg-boss'
import type { Logger } from 'pino'
import { breakers } from '../connectors/breaker.ts'
import { pacer } from '../connectors/pace.ts'
import { slotLeaser } from '../connectors/slots.ts'
import { batcher } from '../db/batcher.ts'
import type { Pool } from '../db/pool.ts'
import { addHistories } from '../stores/history.ts'
import { addLinks, recordsFor } from '../stores/records.ts'
import type { SystemRegistry } from '../stores/systems.ts'
import type { PipelineContext } from './context.ts'
import { recordWriter } from './write-record.ts'

/**
 * Everything job handlers work with, on `pool` (the workers' own, with asynchronous commits);
 * `parts.pool` is the hub's, whose commits are synchronous.
 */
export function createPipelineContext (pool: Pool, parts: { boss: PgBoss, systems: SystemRegistry, log: Logger, pool: Pool }): PipelineContext {
  const ctx: PipelineContext = {
    pool,
    boss: parts.boss,
    systems: parts.systems,
    log: parts.log,
    pace: pacer(pool),
    withSlot: slotLeaser(pool),
    breaker: breakers(pool, parts.log),
    writeRecord: w => writer(w),
    history: batcher(async entries => { await addHistories(pool, entries); return entries.map(() => undefined) }),
    recordFor: batcher(wanted => recordsFor(pool, wanted), { maxParallel: 4 }),
    // One statement on the synchronous pool commits by itself, durably: one round trip where a
    // transaction forcing a synchronous commit took three.
    linkDurably: batcher(links => addLinks(parts.pool, links))
  }
  // The writer reads ctx.claims when it writes: the workers set it once their runner runs.
  const writer = recordWriter(ctx)
  return ctx
}
