import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { JobWithMetadata, PgBoss } from 'pg-boss'
import { z } from 'zod'
import type { Queryable } from '../../src/db/queryable.ts'
import { notFound } from '../../src/errors.ts'
import { adminErrors, errorResponses, timestamp } from '../../src/http/schemas.ts'
import { OUTBOUND, queueDefinitions } from '../../src/queue/queues.ts'

const job = z.object({
  id: z.string(),
  queue: z.string(),
  state: z.enum(['created', 'retry', 'active', 'completed', 'cancelled', 'failed']),
  priority: z.number(),
  data: z.record(z.string(), z.unknown()).nullable(),
  output: z.unknown().describe("the handler's result, or its error"),
  retryCount: z.number(),
  createdOn: timestamp,
  startedOn: timestamp.nullable(),
  completedOn: timestamp.nullable(),
  trace: z.array(z.record(z.string(), z.unknown())).nullable().describe('debug jobs: each step (request, response, mapping in and out), secrets redacted')
})
const jobWithDeliveries = job.extend({
  deliveries: z.array(job).optional().describe('the outbound jobs this fetch fanned out to (those still stored)')
})

type Job = z.infer<typeof job>
type Stored = JobWithMetadata<Record<string, unknown> | null>

const iso = (d: Date | null | undefined) => d ? new Date(d).toISOString() : null

/** Jobs as the API shows them, each with its debug trace. */
async function withTraces (db: Queryable, jobs: Stored[]): Promise<Job[]> {
  if (!jobs.length) return []
  const { rows } = await db.query<{ job_id: string, steps: Array<Record<string, unknown>> }>(
    'SELECT job_id, steps FROM hub.traces WHERE job_id = ANY($1)', [jobs.map(j => j.id)])
  const traces = new Map(rows.map(r => [r.job_id, r.steps]))
  return jobs.map(j => ({
    id: j.id,
    queue: j.name,
    state: j.state,
    priority: j.priority,
    data: j.data,
    output: j.output,
    retryCount: j.retryCount,
    createdOn: iso(j.createdOn)!,
    startedOn: iso(j.startedOn),
    completedOn: iso(j.completedOn),
    trace: traces.get(j.id) ?? null
  }))
}

// pg-boss finds a job by id within one queue; an id alone may be in any of the hub's queues.
async function findJob (boss: PgBoss, id: string): Promise<Stored | undefined> {
  const found = await Promise.all(queueDefinitions.map(q => boss.findJobs<Record<string, unknown> | null>(q.name, { id })))
  return found.flat()[0]
}

const jobs: FastifyPluginAsyncZod = async (fastify) => {
  const { pool, boss } = fastify.hub

  fastify.get('/:id', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['monitor'],
      summary: 'A job: state, data, output and, for debug jobs, its step-by-step trace (with the traces of the deliveries it fanned out)',
      security: [{ adminKey: [] }],
      params: z.object({ id: z.uuid('must be a job id (a UUID)') }),
      response: { 200: jobWithDeliveries, ...errorResponses(400, 404, ...adminErrors) }
    }
  }, async (request) => {
    const found = await findJob(boss, request.params.id)
    if (!found) throw notFound(`no job ${request.params.id}`)
    const [shown] = await withTraces(pool, [found])
    const output = found.output as { outbound?: unknown } | null
    const children = Array.isArray(output?.outbound) ? output.outbound as string[] : []
    if (!children.length) return shown
    const deliveries = await Promise.all(children.map(id => boss.findJobs<Record<string, unknown> | null>(OUTBOUND, { id })))
    return { ...shown, deliveries: await withTraces(pool, deliveries.flat()) }
  })
}

export default jobs
