import type { Job } from 'pg-boss'
import type { PipelineContext } from '../src/pipeline/context.ts'
import { runPoll } from '../src/poll/run.ts'
import type { PollJob } from '../src/poll/run.ts'

// A poll run (scheduled, or triggered through a door). The queue's exclusive policy lets pg-boss
// run one per (system, type) at a time across all processes; the run records its own failures
// (last error, last run), so the job completes either way and is never retried by pg-boss. A
// worker that is stopping (`stop`) ends the run after the page in hand, within its grace.
export function pollHandler (ctx: PipelineContext, stop: AbortSignal) {
  return async ([job]: Job<PollJob>[]) => {
    const report = await runPoll(ctx, job.id, job.data, stop).catch(err => ({ error: (err as Error).message }))
    if (report.error) ctx.log.warn({ system: job.data.system, type: job.data.type, error: report.error }, 'poll run failed')
    else ctx.log.info({ system: job.data.system, type: job.data.type, ...report }, 'poll run finished')
    return report
  }
}
