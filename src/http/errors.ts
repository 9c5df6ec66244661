import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { isDatabaseUnavailable, isRejectedValue } from '../db/errors.ts'
import { HubError, invalid, unavailable } from '../errors.ts'
import { formatPath } from '../models/index.ts'
import { MAX_ID } from '../models/text.ts'

interface Envelope { error: { code: string, message: string, details?: unknown } }

// Fastify's own client errors, renamed to the codes our API documents.
const fastifyCodes: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'bad_request'
}

// Long enough for a database restart; senders and clients come back then.
const DATABASE_RETRY_AFTER_S = 5

function toEnvelope (err: FastifyError): { status: number, body: Envelope } {
  if (isDatabaseUnavailable(err)) return toEnvelope(unavailable('the database is unavailable or too slow to answer; retry later', DATABASE_RETRY_AFTER_S) as unknown as FastifyError)
  // A value PostgreSQL cannot store (a NUL, an over-long key) that got past the edge checks
  // is still the client's input, never a 500.
  if (isRejectedValue(err)) return { status: 400, body: { error: { code: 'bad_request', message: `a value in the request cannot be stored: ${err.message}` } } }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = err.validationContext ?? 'body'
    return toEnvelope(invalid(err.validation.flatMap(v => {
      const path = v.instancePath.split('/').slice(1).filter(Boolean).map(p => /^\d+$/.test(p) ? Number(p) : p)
      const at = (rest: Array<string | number>) => formatPath(where === 'body' ? rest : [where, ...rest])
      // A misspelt key is named at its own path, as everywhere else in the hub.
      if (v.keyword === 'unrecognized_keys') return ((v.params as { keys?: string[] }).keys ?? []).map(key => ({ path: at([...path, key]), message: 'unknown key' }))
      return [{ path: at(path), message: v.message ?? 'invalid' }]
    })) as unknown as FastifyError)
  }
  if (err instanceof HubError) {
    return { status: err.statusCode, body: { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } } }
  }
  const isJson = err instanceof SyntaxError
  // Fastify's parser says the same of broken JSON and of JSON with a key that could reach
  // objects' prototypes, and keeps neither reason: both are named.
  if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return { status: 400, body: { error: { code: 'invalid_json', message: 'the body is not valid JSON, or has a "__proto__" key (or "constructor" holding "prototype"), which the hub does not take' } } }
  }
  const status = err.statusCode ?? (isJson ? 400 : 500)
  if (status < 500) {
    const code = isJson ? 'invalid_json' : fastifyCodes[err.code] ?? (status === 404 ? 'not_found' : 'bad_request')
    const message = isJson
      ? `malformed JSON: ${err.message}`
      // Fastify's own wording names no remedy; the usual cause is a missing content-type header.
      : code === 'unsupported_media_type' ? 'unsupported Content-Type: send application/json (text/csv or multipart/form-data only where the API document lists it)' : err.message
    return { status, body: { error: { code, message } } }
  }
  // Never echo an internal message to the client: it is in the log, with the request id.
  return { status, body: { error: { code: 'internal', message: 'internal server error' } } }
}

/**
 * Fastify's body errors said for the route: its "Request body is too large" names no limit, and
 * a route that documents its content types (documentedBody) names those rather than the API's.
 */
function routeSpecific (err: FastifyError, request: FastifyRequest): FastifyError | undefined {
  const limit = request.routeOptions.bodyLimit
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' && limit) {
    const size = limit >= 1024 * 1024 ? `${+(limit / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(limit / 1024)} KiB`
    return new HubError(413, 'payload_too_large', `the body is larger than this route takes (${size})`) as unknown as FastifyError
  }
  // No body at all reads to zod as null at the root: say what is missing.
  if (hasZodFastifySchemaValidationErrors(err) && err.validationContext === 'body' && request.body == null) {
    return invalid([{ path: 'body', message: 'required: send a JSON object (its fields are in the API document)' }]) as unknown as FastifyError
  }
  const types = Object.keys((request.routeOptions.schema as { documentedBody?: object } | undefined)?.documentedBody ?? {})
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' && types.length) {
    return new HubError(415, 'unsupported_media_type', `unsupported Content-Type: send ${types.join(' or ')}`) as unknown as FastifyError
  }
  return undefined
}

/**
 * Errors Fastify's router meets before any route or hook (a malformed %-escape, an over-long
 * path segment): answered in the envelope too, where Fastify would send a body of its own.
 */
export function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
  const { status, body } = tooLong
    ? { status: 414, body: { error: { code: 'uri_too_long', message: `a path segment is longer than the API takes (${MAX_PARAM_LENGTH} characters)` } } }
    : toEnvelope(err)
  request.log.info({ code: body.error.code, status }, body.error.message)
  reply.code(status).send(body)
}

/** A path parameter's limit: an id of MAX_ID characters, each up to 3 UTF-8 bytes sent as %XX. */
export const MAX_PARAM_LENGTH = MAX_ID * 9

export const errorEnvelope = fp(async (fastify: FastifyInstance) => {
  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    // A client that went away mid-request fails the request's own stream (ECONNRESET,
    // 'aborted'): it is not the database's fault, and nobody is left to answer.
    // (The request stream alone may be destroyed by a parser that gave up on it: the socket tells.)
    if (request.raw.socket?.destroyed === true) {
      request.log.info({ err: err.message }, 'the client went away before the request was answered')
      return reply.code(400).send({ error: { code: 'bad_request', message: 'the request was cut short' } })
    }
    const { status, body } = toEnvelope(routeSpecific(err, request) ?? err)
    const retryAfter = (isDatabaseUnavailable(err) ? DATABASE_RETRY_AFTER_S : undefined) ?? (err as { retryAfter?: number }).retryAfter
    if (retryAfter) reply.header('retry-after', String(retryAfter))
    if (status === 503) request.log.warn({ err: err.message }, body.error.message)
    else if (status >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ code: body.error.code, status }, body.error.message)
    return reply.code(status).send(body)
  })
  fastify.setNotFoundHandler((request, reply) => {
    return reply.code(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } })
  })
})
