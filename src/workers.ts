import { inbound } from '../jobs/inbound.ts'
import { cleanUp, retentionOf } from '../jobs/maintenance.ts'
import { outbound } from '../jobs/outbound.ts'
import { pollHandler } from '../jobs/poll.ts'
import { importHandler } from '../jobs/import.ts'
import { createPool } from './db/pool.ts'
import type { Hub } from './hub.ts'
import { createPipelineContext } from './pipeline/create-context.ts'
import { startRunner } from './pipeline/runner.ts'
import { IMPORT, MAINTENANCE, POLL } from './queue/queues.ts'
import { syncSchedules } from './poll/schedules.ts'
import { startExpander } from './sync/expand.ts'
import { startPump } from './ingest/pump.ts'

export interface Workers { stop (): Promise<void> }

// Jobs each worker process runs at once, per queue. Inbound jobs wait on their source's GET and
// the shared record write, deliveries on two calls or more: both are mostly waiting, and the
// round trips of jobs running together are shared (src/db/batcher.ts).
const INBOUND_CAPACITY = 256
const OUTBOUND_CAPACITY = 512
// A poll run or import waiting behind running ones is found within this long once one ends.
// NOTIFY wakes a worker only for a new job, and with it on, pg-boss polls every 30 s by default:
// a queued import waited that long after the one before it had finished.
const QUEUED_POLL = { pollingIntervalSeconds: 0.5, notifyPollingIntervalSeconds: 0.5 }

/**
 * Register every job handler on this process; and, unless `pump` is false (the worker processes
 * of an `all` hub, whose parent pumps), the webhook backlog's pump.
 */
export async function startWorkers (hub: Hub, opts: { pump?: boolean } = {}): Promise<Workers> {
  // Job handlers' own pool, with asynchronous commits (see createPool).
  const pool = createPool(hub.databaseUrl, 40, { synchronousCommit: false })
  const ctx = createPipelineContext(pool, hub)
  const runner = startRunner(ctx, [{ spec: inbound, capacity: INBOUND_CAPACITY }, { spec: outbound, capacity: OUTBOUND_CAPACITY }])
  ctx.claims = runner.claim
  const registered: { name: string, id: string }[] = []
  await hub.boss.schedule(MAINTENANCE, '17 * * * *')
  registered.push({
    name: MAINTENANCE,
    id: await hub.boss.work(MAINTENANCE, async () => {
      hub.log.info(await cleanUp(pool, retentionOf(hub.env)), 'maintenance: old webhook event ids, debug traces, history and errors deleted')
    })
  })
  // Poll runs, and their schedules kept in step with the systems, whichever process changes them.
  // Both end early once the worker stops (between pages, between chunks), so neither holds the shutdown.
  const stopRuns = new AbortController()
  registered.push({ name: POLL, id: await hub.boss.work(POLL, { localConcurrency: 2, ...QUEUED_POLL }, pollHandler(ctx, stopRuns.signal)) })
  // With metadata: a run's last attempt, failing, marks its import failed.
  registered.push({ name: IMPORT, id: await hub.boss.work(IMPORT, { localConcurrency: 2, includeMetadata: true, ...QUEUED_POLL }, importHandler(ctx, stopRuns.signal)) })
  let scheduling = Promise.resolve()
  const reschedule = () => {
    scheduling = scheduling.then(() => syncSchedules(hub.boss, hub.systems, hub.log)).catch(err => hub.log.error({ err }, 'poll schedules not updated'))
    return scheduling
  }
  hub.systems.onChange(reschedule)
  await reschedule()
  // Manual syncs' stored ids become jobs as the batches' earlier jobs are taken.
  const expander = startExpander(ctx)
  // Accepted webhooks become jobs as their systems' waiting jobs are taken.
  const pump = opts.pump === false ? undefined : await startPump(ctx)
  let stopping: Promise<void> | undefined
  const stop = async () => {
    stopRuns.abort()
    await Promise.all([expander.stop(), pump?.stop()])
    await Promise.all([
      runner.stop(hub.env.HUB_SHUTDOWN_GRACE_MS),
      ...registered.map(w => hub.boss.offWork(w.name, { id: w.id, wait: true }))
    ])
    await pool.end()
  }
  return { stop: () => (stopping ??= stop()) }
}
