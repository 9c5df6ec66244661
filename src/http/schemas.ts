import { z } from 'zod'

/** The one shape of every error answer (see src/http/errors.ts). */
export const errorSchema = z.object({
  error: z.object({
    code: z.string().describe('stable: validation_failed, invalid_json, bad_request, unauthorized, forbidden, not_found, conflict, …'),
    message: z.string().describe('what is wrong, naming the field at fault'),
    details: z.unknown().optional().describe('every validation issue, or the data the code refers to')
  })
})

const meaning = {
  400: 'The request is invalid: the message names the field at fault',
  401: 'Missing or invalid credentials',
  403: 'The admin key lacks the scope this needs',
  404: 'No such resource',
  409: 'It exists already',
  413: 'The body is over the size limit',
  415: 'A Content-Type this operation does not read',
  422: 'Valid, but the hub cannot do it',
  429: 'Too much is waiting already: retry once some of it is done',
  503: 'The database is unavailable or the hub is overloaded: retry after Retry-After seconds'
} as const

export type ErrorStatus = keyof typeof meaning

/** Response schemas for the error statuses an operation answers, each with the envelope. */
export function errorResponses<S extends ErrorStatus> (...statuses: S[]): Record<S, typeof errorSchema> {
  return Object.fromEntries(statuses.map(s => [s, errorSchema.describe(meaning[s])])) as Record<S, typeof errorSchema>
}

/** What every admin operation can answer: no key, a key without the scope, the database away. */
export const adminErrors = [401, 403, 503] as const

/** What an operation with a body can answer besides its own checks. */
export const bodyErrors = [400, 413, 415] as const

/** 204: answered without a body. */
export const noContent = (description: string) => z.undefined().describe(description)

/** An ISO 8601 timestamp, as PostgreSQL's to_json writes it. */
export const timestamp = z.string().describe('ISO 8601 timestamp')

/**
 * The query of an operation that declares none (set by src/http/strict-input.ts): any
 * parameter is an unknown key, named as a misspelt one is on the operations that take some.
 */
export const noQuery = z.strictObject({})

/**
 * The body of an operation that takes none (set by src/http/strict-input.ts): none at all, or
 * `{}`; any key is an unknown key. Not in the API document (src/http/openapi.ts drops it).
 */
export const noBody = z.strictObject({}, { error: 'this operation takes no body' }).nullish()
