import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { z } from 'zod'
import { countWebhook, metricsText, observeRequest } from '../metrics.ts'
import { adminErrors, errorResponses } from './schemas.ts'

const HOOKS = '/v1/hooks/:system'

/**
 * GET /metrics in Prometheus text format (a `read` admin key unless HUB_METRICS_OPEN=true), and
 * the hooks that time every request and count webhooks.
 */
export const metrics = fp(async (fastify: FastifyInstance) => {
  fastify.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? '(unmatched)'
    observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000)
    if (route !== HOOKS) return
    // A system that does not exist is answered as a wrong key (401), and its name is the sender's
    // choice: one label for all of them.
    const { system } = request.params as { system: string }
    const known = await fastify.hub.systems.get(system).catch(() => undefined)
    countWebhook(known ? system : '(unknown)', reply.statusCode)
  })
  const open = fastify.hub.env.HUB_METRICS_OPEN
  fastify.get('/metrics', {
    preHandler: open ? undefined : fastify.requireScope('read'),
    schema: {
      tags: ['monitor'],
      summary: 'Prometheus metrics of this process and the queues',
      security: open ? [] : [{ adminKey: [] }],
      response: {
        200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: z.string() } } },
        ...errorResponses(...adminErrors)
      }
    }
  }, async (request, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8')
    return await metricsText(fastify.hub.pool)
  })
})
