import type { JobWithMetadata } from 'pg-boss'
import { runImport } from '../src/imports/run.ts'
import { finishImport } from '../src/imports/store.ts'
import type { ImportJob } from '../src/imports/run.ts'
import type { PipelineContext } from '../src/pipeline/context.ts'
import { insertJobs } from '../src/pipeline/jobs.ts'
import { IMPORT } from '../src/queue/queues.ts'

// A CSV import (POST /v1/imports). Its rows and progress are in PostgreSQL, so a failed or lost
// run (a killed worker's job is failed by pg-boss's heartbeat supervisor) is retried by pg-boss,
// on any worker process, and carries on from the last committed chunk. A worker that is
// stopping (`stop`) ends the run after the chunks in flight and queues the rest as a new job,
// rather than holding its shutdown for the whole import or spending a retry.
export function importHandler (ctx: PipelineContext, stop: AbortSignal) {
  return async ([job]: JobWithMetadata<ImportJob>[]) => {
    const ended = await runImport(ctx, job.data.importId, stop).catch(async err => {
      ctx.log.error({ err, importId: job.data.importId, attempt: job.retryCount + 1 }, 'import run failed')
      // Its last attempt: the import says so, rather than staying 'queued' (and counted against
      // the waiting limit) for good.
      if (job.retryCount >= job.retryLimit) await finishImport(ctx.pool, job.data.importId, 'error', `the import failed: ${(err as Error).message}`)
      throw err
    })
    if (ended === 'stopped') {
      await insertJobs(ctx.boss, IMPORT, [{ data: job.data }], ctx.pool)
      ctx.log.info({ importId: job.data.importId }, 'import handed back to the queue: this worker is stopping')
      return
    }
    ctx.log.info({ importId: job.data.importId }, 'import finished')
  }
}
