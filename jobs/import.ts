import type { Job } from 'pg-boss'
import { runImport } from '../src/imports/run.ts'
import type { ImportJob } from '../src/imports/run.ts'
import type { PipelineContext } from '../src/pipeline/context.ts'

// A CSV import (POST /v1/imports). Its rows and progress are in PostgreSQL, so a failed or lost
// run (a killed worker's job is failed by pg-boss's heartbeat supervisor) is retried by pg-boss,
// on any worker process, and carries on from the last committed chunk.
export function importHandler (ctx: PipelineContext) {
  return async ([job]: Job<ImportJob>[]) => {
    await runImport(ctx, job.data.importId)
    ctx.log.info({ importId: job.data.importId }, 'import finished')
  }
}
