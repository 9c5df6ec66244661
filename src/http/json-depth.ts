import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { badRequest } from '../errors.ts'

// No document the API takes is nested anywhere near this deep; a body that is would make every
// recursive walk after parsing (validation, ${ENV} substitution, redaction) a stack overflow.
export const MAX_JSON_DEPTH = 64

/** What JSON.parse makes: arrays and plain objects (a streamed body is neither, and is skipped). */
const isJsonNode = (v: unknown): v is object => Array.isArray(v) || (v !== null && typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v)))

/** True when `value` nests objects or arrays deeper than `max` (walked without recursion). */
export function deeperThan (value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length) {
    const [node, depth] = stack.pop()!
    if (!isJsonNode(node)) continue
    if (depth > max) return true
    for (const child of Object.values(node)) if (isJsonNode(child)) stack.push([child, depth + 1])
  }
  return false
}

/** Refuse over-deep JSON bodies on every route, before validation or handlers see them. */
export const jsonDepthLimit = fp(async (fastify: FastifyInstance) => {
  fastify.addHook('preValidation', async (request) => {
    if (deeperThan(request.body, MAX_JSON_DEPTH)) {
      throw badRequest(`the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`)
    }
  })
})
