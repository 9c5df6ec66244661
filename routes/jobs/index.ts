import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { notFound } from '../../src/errors.ts'
import type { Queryable } from '../../src/db/queryable.ts'

async function jobWithTrace (db: Queryable, id: string) {
  const { rows: [job] } = await db.query(
    `SELECT j.id, j.name AS queue, j.state::text AS state, j.priority, j.data, j.output, j.retry_count AS "retryCount",
            to_json(j.created_on)#>>'{}' AS "createdOn", to_json(j.started_on)#>>'{}' AS "startedOn",
            to_json(j.completed_on)#>>'{}' AS "completedOn", t.steps AS trace
     FROM pgboss.job j LEFT JOIN hub.traces t ON t.job_id = j.id WHERE j.id = $1`, [id])
  return job as Record<string, any> | undefined
}

const jobs: FastifyPluginAsyncZod = async (fastify) => {
  fastify.get('/:id', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['monitor'],
      summary: 'A job: state, data, output and, for debug jobs, its step-by-step trace (with the traces of the deliveries it fanned out)',
      security: [{ adminKey: [] }],
      params: z.object({ id: z.uuid('must be a job id (a UUID)') })
    }
  }, async (request) => {
    const job = await jobWithTrace(fastify.hub.pool, request.params.id)
    if (!job) throw notFound(`no job ${request.params.id}`)
    const children: string[] = Array.isArray(job.output?.outbound) ? job.output.outbound : []
    if (children.length) job.deliveries = await Promise.all(children.map(id => jobWithTrace(fastify.hub.pool, id)))
    return job
  })
}

export default jobs
