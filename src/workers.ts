import { inbound } from '../jobs/inbound.ts'
import { cleanUp, retentionOf } from '../jobs/maintenance.ts'
import { outbound } from '../jobs/outbound.ts'
import { pollHandler } from '../jobs/poll.ts'
import { importHandler } from '../jobs/import.ts'
import { createPool } from './db/pool.ts'
import type { Hub } from './hub.ts'
import { createPipelineContext } from './pipeline/create-context.ts'
import { batchHandler } from './pipeline/run-job.ts'
import type { JobSpec } from './pipeline/run-job.ts'
import { groupConcurrency, IMPORT, MAINTENANCE, POLL, PRIORITY } from './queue/queues.ts'
import { syncSchedules } from './poll/schedules.ts'
import { startExpander } from './sync/expand.ts'

export interface Workers { stop (): Promise<void> }

// Jobs are fetched in batches and run concurrently; pg-boss enforces each system's
// maxConcurrent across all processes through its group tier.
const common = {
  perJobResults: true,
  includeMetadata: true,
  groupConcurrency,
  pollingIntervalSeconds: 0.5,
  // While fetches come back full there is more: fetch again at once.
  burstWhenBatchFull: true,
  // NOTIFY wakes workers for new jobs at once, but nothing wakes them when a deferred retry
  // falls due: poll for those every second.
  notifyPollingIntervalSeconds: 1
} as const

// Lanes: the general loops take any job, highest priority first, but while they are busy with
// a bulk batch a new live change or debug job would wait for one of them to finish its batch.
// A live lane (live and debug jobs only) and a debug lane sit idle until NOTIFY wakes them.
// The general loops take 64 jobs a fetch: the jobs of a batch share their database round trips
// (src/db/batcher.ts), so more jobs in flight cost little more than a few; measured on the
// end-to-end bench, 16 per fetch gave 141 records/s, 64 gave 156-219.
const lanes = [
  { ...common, batchSize: 64, localConcurrency: 4 },
  { ...common, batchSize: 16, localConcurrency: 1, minPriority: PRIORITY.live },
  { ...common, batchSize: 1, localConcurrency: 1, minPriority: PRIORITY.debug }
]

/** Register every job handler on this process. */
export async function startWorkers (hub: Hub): Promise<Workers> {
  // Job handlers' own pool, with asynchronous commits (see createPool).
  const pool = createPool(hub.databaseUrl, 40, { synchronousCommit: false })
  const ctx = createPipelineContext(pool, hub)
  const specs: JobSpec<any>[] = [inbound, outbound]
  const registered: { name: string, id: string }[] = []
  for (const spec of specs) {
    const handler = batchHandler(ctx, spec)
    let loops: string[] = []
    // A finished batch frees group capacity that a short fetch may have found full; wake the
    // queue's fetch loops rather than let them sleep until the next poll.
    const run = async (jobs: Parameters<typeof handler>[0]) => {
      try {
        return await handler(jobs)
      } finally {
        setImmediate(() => loops.forEach(loop => hub.boss.notifyWorker(loop)))
      }
    }
    for (const lane of lanes) registered.push({ name: spec.queue, id: await hub.boss.work(spec.queue, lane, run) })
    const ids = new Set(registered.filter(r => r.name === spec.queue).map(r => r.id))
    loops = hub.boss.getWipData().filter(w => ids.has(w.workId)).map(w => w.id)
  }
  await hub.boss.schedule(MAINTENANCE, '17 * * * *')
  registered.push({
    name: MAINTENANCE,
    id: await hub.boss.work(MAINTENANCE, async () => {
      hub.log.info(await cleanUp(pool, retentionOf(hub.env)), 'maintenance: old webhook event ids, debug traces, history and errors deleted')
    })
  })
  // Poll runs, and their schedules kept in step with the systems, whichever process changes them.
  registered.push({ name: POLL, id: await hub.boss.work(POLL, { localConcurrency: 2, pollingIntervalSeconds: 0.5 }, pollHandler(ctx)) })
  registered.push({ name: IMPORT, id: await hub.boss.work(IMPORT, { localConcurrency: 2, pollingIntervalSeconds: 0.5 }, importHandler(ctx)) })
  let scheduling = Promise.resolve()
  const reschedule = () => {
    scheduling = scheduling.then(() => syncSchedules(hub.boss, hub.systems)).catch(err => hub.log.error({ err }, 'poll schedules not updated'))
    return scheduling
  }
  hub.systems.onChange(reschedule)
  await reschedule()
  // Manual syncs' stored ids become jobs as the batches' earlier jobs are taken.
  const expander = startExpander(ctx)
  let stopping: Promise<void> | undefined
  const stop = async () => {
    await expander.stop()
    await Promise.all(registered.map(w => hub.boss.offWork(w.name, { id: w.id, wait: true })))
    await pool.end()
  }
  return { stop: () => (stopping ??= stop()) }
}
