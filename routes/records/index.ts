import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { notFound } from '../../src/errors.ts'
import { adminErrors, errorResponses, timestamp } from '../../src/http/schemas.ts'
import { dataTypes } from '../../src/models/index.ts'
import { recordId, storableText } from '../../src/models/text.ts'
import { historyOf } from '../../src/stores/history.ts'
import { findLink, getRecord, linksOf } from '../../src/stores/records.ts'
import write from './write.ts'

const typeParam = z.enum(dataTypes)

const shown = z.object({
  id: z.string(),
  type: typeParam,
  data: z.record(z.string(), z.unknown()).describe('the canonical record (see the data type\'s model)'),
  hash: z.string(),
  version: z.number(),
  createdAt: timestamp,
  updatedAt: timestamp,
  deletedAt: timestamp.nullable(),
  links: z.array(z.object({ systemId: z.string(), externalId: z.string(), createdAt: timestamp })),
  history: z.array(z.object({
    systemId: z.string(),
    direction: z.enum(['inbound', 'outbound']),
    action: z.string(),
    outcome: z.string(),
    reason: z.string().nullable(),
    externalId: z.string().nullable(),
    jobId: z.string().nullable(),
    at: timestamp
  })).describe('oldest first, the latest 200')
})
const answers = { 200: shown, ...errorResponses(400, 404, ...adminErrors) }

const records: FastifyPluginAsyncZod = async (fastify) => {
  const { pool } = fastify.hub
  // Listing and the create-or-replace sync endpoints (seed 001).
  await fastify.register(write)

  async function show (type: string, id: string) {
    const record = await getRecord(pool, id)
    if (!record || record.type !== type) throw notFound(`no ${type} ${id}`)
    // historyOf's rows are untyped; the response schema checks them on the way out.
    return { ...record, links: await linksOf(pool, id), history: await historyOf(pool, id) as z.infer<typeof shown>['history'] }
  }

  fastify.get('/:type/:id', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['records'],
      summary: 'A canonical record with its external ID links and its sync history',
      security: [{ adminKey: [] }],
      params: z.object({ type: typeParam, id: z.uuid('must be a hub record id (a UUID)') }),
      response: answers
    }
  }, async (request) => show(request.params.type, request.params.id))

  fastify.get('/:type/by-link/:system/:externalId', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['records'],
      summary: "The canonical record linked to a system's record",
      security: [{ adminKey: [] }],
      params: z.object({ type: typeParam, system: storableText(63), externalId: recordId() }),
      response: answers
    }
  }, async (request) => {
    const { type, system, externalId } = request.params
    const id = await findLink(pool, system, type, externalId)
    if (!id) throw notFound(`no ${type} linked to ${system} ${externalId}`)
    return show(type, id)
  })

  fastify.get('/:type/by-external-id/:externalId', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['records'],
      summary: 'Records of a type linked to this external id in any system',
      security: [{ adminKey: [] }],
      params: z.object({ type: typeParam, externalId: recordId() }),
      response: {
        200: z.object({ links: z.array(z.object({ systemId: z.string(), externalId: z.string(), recordId: z.string() })).describe('at most 100') }),
        ...errorResponses(400, ...adminErrors)
      }
    }
  }, async (request) => {
    const { rows } = await pool.query<{ systemId: string, externalId: string, recordId: string }>(
      `SELECT system_id AS "systemId", external_id AS "externalId", record_id AS "recordId" FROM hub.links
       WHERE type = $1 AND external_id = $2 ORDER BY system_id LIMIT 100`,
      [request.params.type, request.params.externalId])
    return { links: rows }
  })
}

export default records
