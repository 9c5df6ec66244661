import { inbound } from '../jobs/inbound.ts'
import { outbound } from '../jobs/outbound.ts'
import { pacer } from './connectors/pace.ts'
import { slotLeaser } from './connectors/slots.ts'
import type { Hub } from './hub.ts'
import { batchHandler } from './pipeline/run-job.ts'
import type { JobSpec } from './pipeline/run-job.ts'
import { groupConcurrency } from './queue/queues.ts'

export interface Workers { stop (): Promise<void> }

// Jobs are fetched in batches and run concurrently; pg-boss enforces each system's
// maxConcurrent across all processes through its group tier.
const workOptions = {
  batchSize: 16,
  localConcurrency: 4,
  perJobResults: true,
  includeMetadata: true,
  groupConcurrency,
  pollingIntervalSeconds: 0.5,
  // NOTIFY wakes workers for new jobs at once, but nothing wakes them when a deferred retry
  // falls due: poll for those every second.
  notifyPollingIntervalSeconds: 1
} as const

/** Register every job handler on this process. */
export async function startWorkers (hub: Hub): Promise<Workers> {
  const ctx = { pool: hub.pool, boss: hub.boss, systems: hub.systems, log: hub.log, pace: pacer(hub.pool), withSlot: slotLeaser(hub.pool) }
  const specs: JobSpec<any>[] = [inbound, outbound]
  const registered: { name: string, id: string }[] = []
  for (const spec of specs) {
    const id = await hub.boss.work(spec.queue, workOptions, batchHandler(ctx, spec))
    registered.push({ name: spec.queue, id })
  }
  return {
    async stop () {
      await Promise.all(registered.map(w => hub.boss.offWork(w.name, { id: w.id, wait: true })))
    }
  }
}
