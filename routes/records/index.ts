import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { notFound } from '../../src/errors.ts'
import { dataTypes } from '../../src/models/index.ts'
import { historyOf } from '../../src/stores/history.ts'
import { findLink, getRecord, linksOf } from '../../src/stores/records.ts'

const typeParam = z.enum(dataTypes)

const records: FastifyPluginAsyncZod = async (fastify) => {
  const { pool } = fastify.hub

  async function show (type: string, id: string) {
    const record = await getRecord(pool, id)
    if (!record || record.type !== type) throw notFound(`no ${type} ${id}`)
    return { ...record, links: await linksOf(pool, id), history: await historyOf(pool, id) }
  }

  fastify.get('/:type/:id', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['records'],
      summary: 'A canonical record with its external ID links and its sync history',
      security: [{ adminKey: [] }],
      params: z.object({ type: typeParam, id: z.uuid('must be a hub record id (a UUID)') })
    }
  }, async (request) => show(request.params.type, request.params.id))

  fastify.get('/:type/by-link/:system/:externalId', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['records'],
      summary: "The canonical record linked to a system's record",
      security: [{ adminKey: [] }],
      params: z.object({ type: typeParam, system: z.string(), externalId: z.string() })
    }
  }, async (request) => {
    const { type, system, externalId } = request.params
    const id = await findLink(pool, system, type, externalId)
    if (!id) throw notFound(`no ${type} linked to ${system} ${externalId}`)
    return show(type, id)
  })
}

export default records
