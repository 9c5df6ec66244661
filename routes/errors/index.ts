import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { storableText } from '../../src/models/text.ts'
import { adminErrors, errorResponses, timestamp } from '../../src/http/schemas.ts'

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
  at: timestamp
})

const errors: FastifyPluginAsyncZod = async (fastify) => {
  const { pool } = fastify.hub

  fastify.get('/', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['monitor'],
      summary: 'Final failures, newest first',
      security: [{ adminKey: [] }],
      querystring: z.object({
        system: storableText(63).optional(),
        type: storableText(63).optional(),
        direction: z.enum(['inbound', 'outbound']).optional(),
        before: z.coerce.number().int().positive().optional().describe('id of the last error of the previous page'),
        limit: z.coerce.number().int().min(1).max(500).default(50)
      }),
      response: {
        200: z.object({ errors: z.array(failure), next: z.number().nullable().describe('pass as `before` for the next page') }),
        ...errorResponses(400, ...adminErrors)
      }
    }
  }, async (request) => {
    const q = request.query
    const { rows } = await pool.query(
      `SELECT id, system_id AS system, type, direction, scope, record_id AS "recordId", external_id AS "externalId",
              message, http_status AS "httpStatus", job_id AS "jobId", to_json(at)#>>'{}' AS at
       FROM hub.errors
       WHERE ($1::text IS NULL OR system_id = $1) AND ($2::text IS NULL OR type = $2)
         AND ($3::text IS NULL OR direction = $3) AND ($4::bigint IS NULL OR id < $4)
       ORDER BY id DESC LIMIT $5`,
      [q.system ?? null, q.type ?? null, q.direction ?? null, q.before ?? null, q.limit])
    return { errors: rows, next: rows.length === q.limit ? rows[rows.length - 1].id : null }
  })
}

export default errors
