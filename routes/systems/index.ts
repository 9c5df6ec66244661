import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { parseSystem, redactSystem } from '../../src/config/load.ts'
import { badRequest, notFound } from '../../src/errors.ts'
import { apiEnv } from '../../src/stores/systems.ts'

const idParam = z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, _ and -, at most 63') })
const systemDoc = z.record(z.string(), z.unknown()).describe('A system document, as in the config file (see README: Systems and flows)')

// Systems managed at run time. Responses never carry secrets; documents sent here may
// reference only HUB_SECRET_* environment variables.
const systems: FastifyPluginAsyncZod = async (fastify) => {
  const { hub } = fastify

  fastify.get('/', {
    preHandler: fastify.requireScope('read'),
    schema: { tags: ['systems'], summary: 'List systems (secrets redacted)', security: [{ adminKey: [] }] }
  }, async () => ({ systems: (await hub.systems.all()).map(redactSystem) }))

  fastify.get('/:id', {
    preHandler: fastify.requireScope('read'),
    schema: { tags: ['systems'], summary: 'One system (secrets redacted)', security: [{ adminKey: [] }], params: idParam }
  }, async (request) => {
    const system = await hub.systems.get(request.params.id)
    if (!system) throw notFound(`no system '${request.params.id}'`)
    return redactSystem(system)
  })

  fastify.put('/:id', {
    preHandler: fastify.requireScope('write'),
    schema: { tags: ['systems'], summary: 'Create or replace a system; invalid documents are rejected and the old one kept', security: [{ adminKey: [] }], params: idParam, body: systemDoc }
  }, async (request, reply) => {
    const document = { ...request.body, id: request.body.id ?? request.params.id }
    if (document.id !== request.params.id) throw badRequest(`id: '${String(document.id)}' does not match the URL's '${request.params.id}'`)
    const parsed = parseSystem(document, apiEnv(process.env))
    if (!parsed.ok) throw badRequest(parsed.errors[0], parsed.errors)
    const existed = await hub.systems.get(request.params.id)
    await hub.systems.put(request.params.id, document, 'api')
    return reply.code(existed ? 200 : 201).send(redactSystem(parsed.system))
  })

  fastify.delete('/:id', {
    preHandler: fastify.requireScope('delete'),
    schema: { tags: ['systems'], summary: 'Remove a system (its links and history stay)', security: [{ adminKey: [] }], params: idParam }
  }, async (request, reply) => {
    if (!await hub.systems.remove(request.params.id)) throw notFound(`no system '${request.params.id}'`)
    return reply.code(204).send()
  })
}

export default systems
