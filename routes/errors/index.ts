import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { fieldError, HubError, notFound } from '../../src/errors.ts'
import { storableText } from '../../src/models/text.ts'
import { dataTypes } from '../../src/models/index.ts'
import { adminErrors, bodyErrors, errorResponses, timestamp } from '../../src/http/schemas.ts'
import { replayError } from '../../src/pipeline/replay.ts'
import type { FailedJob } from '../../src/pipeline/replay.ts'
import { errorColumns, errorWhere } from '../../src/stores/error-log.ts'
import type { ErrorFilter } from '../../src/stores/error-log.ts'

const failure = z.object({
  id: z.number(),
  system: z.string(),
  type: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  scope: z.string(),
  recordId: z.string().nullable(),
  externalId: z.string().nullable(),
  message: z.string(),
  httpStatus: z.number().nullable(),
  jobId: z.string().nullable(),
  at: timestamp,
  replayJobId: z.string().nullable().describe('the job the last replay queued'),
  replayedAt: timestamp.nullable(),
  resolvedAt: timestamp.nullable().describe('when a replay of it succeeded, or failed again (then supersededBy)'),
  supersededBy: z.number().nullable().describe('the error its replay ended in, when that failed again')
})

const filter = {
  system: storableText(63).optional(),
  type: z.enum(dataTypes).optional(),
  direction: z.enum(['inbound', 'outbound']).optional(),
  text: storableText(1_000).optional().describe('part of the message, any case'),
  since: z.iso.datetime({ offset: true }).optional().describe('ISO 8601: errors at or after it')
}
const resolvedParam = z.enum(['true', 'false']).transform(v => v === 'true')

const replayed = z.object({
  id: z.number().describe('the error'),
  jobId: z.string().nullable().describe('the new job; null when a fetch of the same record already queued takes its place')
})

const SELECT = (where: string, tail: string) => `SELECT ${errorColumns}, job_data AS "jobData", queue FROM hub.errors WHERE ${where} ${tail}`
type Row = z.infer<typeof failure> & { jobData: FailedJob['jobData'], queue: string }
const failedJob = (r: Row): FailedJob => ({ id: r.id, queue: r.queue, direction: r.direction, jobId: r.jobId, jobData: r.jobData, resolved: r.resolvedAt !== null, replayJobId: r.replayJobId })
const shown = ({ jobData, queue, ...rest }: Row) => rest

const errors: FastifyPluginAsyncZod = async (fastify) => {
  const { pool } = fastify.hub

  fastify.get('/', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['monitor'],
      summary: 'Final failures, newest first',
      security: [{ adminKey: [] }],
      querystring: z.strictObject({
        ...filter,
        resolved: resolvedParam.optional().describe('true: only resolved ones; false: only open ones'),
        before: z.coerce.number().int().positive().optional().describe('id of the last error of the previous page'),
        limit: z.coerce.number().int().min(1).max(500).default(50)
      }),
      response: {
        200: z.object({ errors: z.array(failure), next: z.number().nullable().describe('pass as `before` for the next page') }),
        ...errorResponses(400, ...adminErrors)
      }
    }
  }, async (request) => {
    const { before, limit, ...f } = request.query
    const { where, params } = errorWhere(f)
    const { rows } = await pool.query<Row>(
      SELECT(`${where} AND ($${params.length + 1}::bigint IS NULL OR id < $${params.length + 1})`, `ORDER BY id DESC LIMIT $${params.length + 2}`),
      [...params, before ?? null, limit])
    return { errors: rows.map(shown), next: rows.length === limit ? rows[rows.length - 1].id : null }
  })

  fastify.post('/:id/retry', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['monitor'],
      summary: 'Replay one failure: its work queued again; the error is resolved when that job succeeds',
      security: [{ adminKey: [] }],
      params: z.object({ id: z.coerce.number().int().positive() }),
      response: {
        202: replayed,
        ...errorResponses(400, 404, 409, ...adminErrors)
      }
    }
  }, async (request, reply) => {
    const { rows } = await pool.query<Row>(SELECT('id = $1', ''), [request.params.id])
    if (!rows[0]) throw notFound(`no error ${request.params.id}`)
    const { jobId } = await replayError(fastify.hub, failedJob(rows[0]))
    return reply.code(202).send({ id: rows[0].id, jobId })
  })

  fastify.post('/retry', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['monitor'],
      summary: 'Replay every open failure matching a filter (oldest first, up to limit)',
      security: [{ adminKey: [] }],
      body: z.strictObject({ ...filter, limit: z.number().int().min(1).max(10_000).default(1_000) }),
      response: {
        202: z.object({
          queued: z.array(replayed),
          refused: z.array(z.object({ id: z.number(), reason: z.string() })).describe('errors whose system or flow is gone')
        }),
        ...errorResponses(...bodyErrors, ...adminErrors)
      }
    }
  }, async (request, reply) => {
    const { limit, ...f } = request.body
    const { where, params } = errorWhere({ ...f, resolved: false } satisfies ErrorFilter)
    const { rows } = await pool.query<Row>(SELECT(where, `ORDER BY id LIMIT $${params.length + 1}`), [...params, limit])
    // A system gone still has its errors (refused below); a name no error has is a typo.
    if (f.system && !rows.length && !await fastify.hub.systems.get(f.system)) throw fieldError('system', `no system '${f.system}' is configured, and no open error names it`)
    const queued: Array<z.infer<typeof replayed>> = []
    const refused: Array<{ id: number, reason: string }> = []
    for (const row of rows) {
      try {
        queued.push({ id: row.id, ...await replayError(fastify.hub, failedJob(row)) })
      } catch (err) {
        if (!(err instanceof HubError) || err.statusCode !== 409) throw err
        refused.push({ id: row.id, reason: err.message })
      }
    }
    return reply.code(202).send({ queued, refused })
  })
}

export default errors
