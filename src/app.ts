import { fileURLToPath } from 'node:url'
import autoload from '@fastify/autoload'
import fastifyStatic from '@fastify/static'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifyPluginAsync, FastifyServerOptions } from 'fastify'
import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import { adminAuth } from './auth/plugin.ts'
import { unavailable } from './errors.ts'
import { errorEnvelope, frameworkErrors, MAX_PARAM_LENGTH } from './http/errors.ts'
import { jsonDepthLimit } from './http/json-depth.ts'
import { metrics } from './http/metrics.ts'
import { describeRoute } from './http/openapi.ts'
import { strictInput } from './http/strict-input.ts'
import type { Hub } from './hub.ts'
import { version } from './version.ts'

declare module 'fastify' {
  interface FastifyInstance { hub: Hub }
}

export interface AppOptions {
  hub: Hub
  /** 'api' serves everything; 'health' only /health and /ready (worker processes). */
  surface?: 'api' | 'health'
}

const routesDir = fileURLToPath(new URL('../routes/', import.meta.url))
const uiDir = fileURLToPath(new URL('../ui/', import.meta.url))

/**
 * Options for the Fastify instance the app is registered on. Fastify's own 503 while closing has
 * its own body and no Retry-After; the app answers those requests itself (below). Path
 * parameters hold ids of up to 255 characters (Fastify's default stops at 100), and the router's
 * own refusals are answered in the envelope.
 */
export const serverOptions: Pick<FastifyServerOptions, 'return503OnClosing' | 'routerOptions' | 'frameworkErrors'> = {
  return503OnClosing: false,
  routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  frameworkErrors
}

/** The hub's HTTP API as a Fastify plugin; only src/server.ts listens. */
export const app: FastifyPluginAsync<AppOptions> = fp(async (fastify: FastifyInstance, opts: AppOptions) => {
  fastify.decorate('hub', opts.hub)
  fastify.setValidatorCompiler(validatorCompiler)
  fastify.setSerializerCompiler(serializerCompiler)
  await fastify.register(errorEnvelope)
  // Before any route: an unknown query parameter or body key is refused on every operation.
  await fastify.register(strictInput)
  // No route reads text/plain: JSON sent under that type gets the 415 naming what to send,
  // rather than reaching a route's checks as one string ("id: required").
  fastify.removeContentTypeParser('text/plain')
  // A request that reaches a closing hub (one more on a keep-alive connection still busy with
  // another) is refused in the envelope, with a time to retry: another instance, or this one
  // restarted, takes it.
  let closing = false
  fastify.addHook('preClose', async () => { closing = true })
  fastify.addHook('onRequest', async () => {
    if (closing) throw unavailable('the hub is shutting down; retry later', 5)
  })
  await fastify.register(jsonDepthLimit)
  // Shed load before senders time out: while the event loop lags, answer 503 + Retry-After at
  // once (a sender retries later) instead of queueing requests that would wait without bound.
  const maxDelay = opts.hub.env.HUB_MAX_EVENT_LOOP_DELAY_MS
  if (maxDelay > 0) {
    await fastify.register(underPressure, {
      maxEventLoopDelay: maxDelay,
      retryAfter: 5,
      pressureHandler: async () => { throw unavailable(`the hub is overloaded (event loop delayed over ${maxDelay} ms); retry later`, 5) }
    })
  }
  await fastify.register(adminAuth)
  await fastify.register(swagger, {
    openapi: {
      info: { title: 'Hub API', description: 'Self-hosted integration hub', version },
      components: {
        securitySchemes: {
          adminKey: { type: 'http', scheme: 'bearer', description: 'Admin API key' },
          webhookKey: { type: 'http', scheme: 'bearer', description: "A system's webhook key" }
        }
      }
    },
    transform: describeRoute
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
  // Workers serve it too: their job and call counters are theirs.
  await fastify.register(metrics)
  // The dashboard: static files; its data comes from the admin API with the signed-in key.
  if (opts.surface !== 'health') await fastify.register(fastifyStatic, { root: uiDir, wildcard: false })
  await fastify.register(autoload, {
    dir: routesDir,
    options: { prefix: '/v1' },
    // A worker process serves only its health routes.
    matchFilter: opts.surface === 'health' ? (path: string) => path.startsWith('/health') : undefined
  })
})
