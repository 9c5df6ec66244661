import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { z } from 'zod'
import { errorResponses, noBody, noQuery } from './schemas.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Query parameters are ignored, not refused: for the probes (/health, /ready), which take
     * none, and to which monitors add cache-busters (a probe must not fail on one), and for
     * webhooks, whose senders may add their own.
     */
    lenientQuery?: boolean
  }
}

// Methods Fastify reads no body for (and allows no body schema on).
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE'])

/** A z.object schema (not strict, loose or with a catchall): it drops unknown keys unseen. */
const strips = (schema: unknown) => schema instanceof z.ZodObject && schema.def.catchall === undefined

/**
 * Every operation of the API document takes only what it documents: a query parameter or body
 * key it does not take is `400 validation_failed` naming it (`querystring.x: unknown key`, or
 * `x: unknown key` in a body), as on the operations that declare theirs, never ignored. An
 * operation that declares no querystring gets `noQuery`, one with a body but no body schema
 * (nor a body it reads itself, `documentedBody`) gets `noBody`, and either documents its 400.
 * A querystring or body declared as z.object, which would drop unknown keys, stops the start.
 * Routes outside the document (Swagger UI, the dashboard's files) are left as they are.
 */
export const strictInput = fp(async (fastify: FastifyInstance) => {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    const schema: FastifySchema | undefined = route.schema
    if (!schema || (schema as { hide?: boolean }).hide) return
    const name = `${[route.method].flat().join(',')} ${route.url}`
    for (const part of ['querystring', 'body'] as const) {
      if (strips(schema[part])) throw new Error(`${name}: its ${part} schema is a z.object, which drops unknown keys; make it z.strictObject`)
    }
    const query = schema.querystring === undefined && route.config?.lenientQuery !== true
    const body = schema.body === undefined && schema.documentedBody === undefined && ![route.method].flat().every(m => BODYLESS.has(m))
    if (!query && !body) return
    const response = (schema.response ?? {}) as Record<string, unknown>
    route.schema = {
      ...schema,
      ...(query ? { querystring: noQuery } : {}),
      ...(body ? { body: noBody } : {}),
      response: 400 in response ? response : { ...response, ...errorResponses(400) }
    }
  })
})
