import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { redactDocument, restoreSecrets } from '../../src/config/load.ts'
import { breakerState } from '../../src/connectors/breaker.ts'
import { fieldError, invalid, notFound } from '../../src/errors.ts'
import { adminErrors, bodyErrors, errorResponses, noContent, timestamp } from '../../src/http/schemas.ts'
import type { StoredSystem } from '../../src/stores/systems.ts'

const idParam = z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, _ and -, at most 63') })
const systemDoc = z.record(z.string(), z.unknown()).describe('A system document, as in the config file (see README: Systems and flows)')
const shownDoc = z.looseObject({
  id: z.string(),
  source: z.enum(['file', 'api']).describe('where it was defined: the config file or this API'),
  unusable: z.array(z.string()).optional().describe("present when this process cannot use the system, and why (an ${ENV} it lacks, say): its webhooks and syncs are refused as for a system that does not exist")
})
  .describe('The system document as stored: ${ENV} references as written, literal secrets as ***')
const breaker = z.object({
  state: z.enum(['closed', 'open']),
  failures: z.number().describe('consecutive transient failures'),
  openedAt: timestamp.nullable(),
  nextProbeAt: timestamp.nullable(),
  lastError: z.string().nullable()
}).describe("the circuit breaker of the hub's calls to this system")

// Systems managed at run time. Responses never carry secrets; documents sent here may
// reference only HUB_SECRET_* environment variables.
const systems: FastifyPluginAsyncZod = async (fastify) => {
  const { hub } = fastify

  // Documents are shown as stored: ${ENV} references as written, literal secrets as '***'.
  const shown = (s: StoredSystem) => ({ id: s.id, ...redactDocument(s.document) as object, source: s.source, ...(s.unusable ? { unusable: s.unusable } : {}) })

  fastify.get('/', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['systems'],
      summary: 'List systems (secrets redacted)',
      security: [{ adminKey: [] }],
      response: { 200: z.object({ systems: z.array(shownDoc) }), ...errorResponses(...adminErrors) }
    }
  }, async () => ({ systems: (await hub.systems.documents()).map(shown) }))

  fastify.get('/:id', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['systems'],
      summary: 'One system (secrets redacted)',
      security: [{ adminKey: [] }],
      params: idParam,
      response: { 200: shownDoc.extend({ breakerState: breaker }), ...errorResponses(400, 404, ...adminErrors) }
    }
  }, async (request) => {
    const stored = (await hub.systems.documents()).find(s => s.id === request.params.id)
    if (!stored) throw notFound(`no system '${request.params.id}'`)
    // The circuit breaker is shown with the one system, not the list: it is a read per system.
    return { ...shown(stored), breakerState: await breakerState(hub.pool, stored.id) }
  })

  fastify.put('/:id', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['systems'],
      summary: 'Create or replace a system; invalid documents are rejected and the old one kept',
      description: "A document as GET showed it may be sent back: its read-only fields (`source`, `breakerState`, `unusable`) are ignored, and a secret shown as `***` (or a URL's masked credentials) keeps the stored value at that place.",
      security: [{ adminKey: [] }],
      params: idParam,
      body: systemDoc,
      response: { 200: shownDoc.describe('Replaced'), 201: shownDoc.describe('Created'), ...errorResponses(...bodyErrors, ...adminErrors) }
    }
  }, async (request, reply) => {
    // What GET adds to a document is read-only: a document read, edited and sent back carries it.
    const { source: _source, breakerState: _breakerState, unusable: _unusable, ...body } = request.body
    const stored = (await hub.systems.documents()).find(s => s.id === request.params.id)
    const restored = restoreSecrets({ ...body, id: body.id ?? request.params.id }, stored?.document)
    if (restored.issues.length) throw invalid(restored.issues)
    const document = restored.value as Record<string, unknown>
    if (document.id !== request.params.id) throw fieldError('id', `'${String(document.id)}' does not match the URL's '${request.params.id}'`)
    const parsed = hub.systems.check(document)
    if (!parsed.ok) throw invalid(parsed.issues)
    const existed = stored !== undefined
    await hub.systems.put(request.params.id, document, 'api')
    // Who changed a system, and where it points now: the trail an operator looks for.
    request.log.info({ system: request.params.id, adminKey: request.adminKey?.name, baseUrl: redactDocument(document.baseUrl), created: !existed }, existed ? 'system changed' : 'system added')
    return reply.code(existed ? 200 : 201).send(shown({ id: request.params.id, document, source: 'api' }))
  })

  fastify.delete('/:id', {
    preHandler: fastify.requireScope('delete'),
    schema: {
      tags: ['systems'],
      summary: 'Remove a system (its links and history stay)',
      security: [{ adminKey: [] }],
      params: idParam,
      response: { 204: noContent('Removed'), ...errorResponses(400, 404, ...adminErrors) }
    }
  }, async (request, reply) => {
    if (!await hub.systems.remove(request.params.id)) throw notFound(`no system '${request.params.id}'`)
    request.log.info({ system: request.params.id, adminKey: request.adminKey?.name }, 'system removed')
    return reply.code(204).send()
  })
}

export default systems
