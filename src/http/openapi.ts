import type { SwaggerTransform } from '@fastify/swagger'
import { jsonSchemaTransform } from 'fastify-type-provider-zod'
import type { ZodType } from 'zod'
import { noBody } from './schemas.ts'

declare module 'fastify' {
  interface FastifySchema {
    /**
     * A body the handler reads itself, by content type: documented, not validated before the
     * handler (a webhook's is read after authentication; a sync's CSV is streamed).
     */
    documentedBody?: Record<string, ZodType>
  }
}

/** The routes' zod schemas as OpenAPI, for @fastify/swagger. */
export const describeRoute: SwaggerTransform = (doc) => {
  const { documentedBody, ...schema } = doc.schema ?? {}
  // The body of an operation that takes none (src/http/strict-input.ts) is no request body.
  if (schema.body === noBody) delete schema.body
  const described = jsonSchemaTransform({ ...doc, schema })
  if (documentedBody) {
    const content = Object.entries(documentedBody).map(([type, body]) =>
      [type, { schema: jsonSchemaTransform({ ...doc, schema: { body } }).schema.body }])
    described.schema = { ...described.schema, body: { content: Object.fromEntries(content) } }
  }
  // Fastify serves a '/' route under a prefix with and without the slash; list it without.
  return { schema: described.schema, url: described.url.replace(/(.)\/$/, '$1') }
}
