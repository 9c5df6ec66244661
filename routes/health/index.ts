import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'

const status = z.object({ status: z.enum(['ok', 'unavailable']) })

// Mounted at the root: /health and /ready (autoload prefixes folder names; see below).
const health: FastifyPluginAsyncZod = async (fastify) => {
  // Probes take no query, and a monitor's cache-buster must not fail them (src/http/strict-input.ts).
  fastify.get('/health', {
    config: { lenientQuery: true },
    schema: { tags: ['health'], summary: 'The process is up', response: { 200: status } }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/ready', {
    config: { lenientQuery: true },
    schema: {
      tags: ['health'],
      summary: 'Database reachable, migrations applied, queue started',
      response: { 200: status, 503: status }
    }
  }, async (_request, reply) => {
    const ok = await fastify.hub.ready()
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable' })
  })
}

export default health
// Serve these at the root rather than under /health.
export const prefixOverride = ''
