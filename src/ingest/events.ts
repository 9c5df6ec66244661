import { z } from 'zod'
import type { SystemConfig } from '../config/systems.ts'
import { badRequest, fieldError, invalid } from '../errors.ts'
import { describeJsonataError, evaluate } from '../mapping/jsonata.ts'
import { check } from '../models/index.ts'
import { recordId, textProblem } from '../models/text.ts'
import type { InboundJob } from '../pipeline/jobs.ts'
import { parseScope } from '../pipeline/scope.ts'
import { inboundScopes, unfetchable } from '../stores/systems.ts'

export const MAX_ITEMS = 1_000

// Strict: a misspelt `debg` is named, not a webhook that quietly runs without its trace. A
// system whose payload carries more goes through its extract expression.
const item = z.strictObject({
  scope: z.string().min(1),
  id: z.union([z.string(), z.number()]).transform(String).pipe(recordId()),
  debug: z.boolean().optional()
})
const items = z.array(item).min(1).max(MAX_ITEMS, `at most ${MAX_ITEMS} items per request`)
/** The hub's own webhook body: one event or a list of them (for the API document). */
export const standardBody = z.union([item, items])

/** Already in the hub's own form: an object with a scope, or an array (of such objects). */
const isStandard = (body: unknown) => Array.isArray(body) || (typeof body === 'object' && body !== null && 'scope' in body)

/**
 * A webhook body as inbound jobs: `{scope, id, debug?}`, an array of them, or the system's own
 * payload reduced to those by its `extract` expression (applied only to bodies not already in
 * the hub's form). Every scope must be one of the system's inbound flows; one bad item rejects
 * the whole request, so nothing half-arrives.
 */
export async function readEvents (system: SystemConfig, body: unknown): Promise<InboundJob[]> {
  let value = body
  const extract = isStandard(body) ? undefined : system.webhooks.extract
  if (extract) {
    try {
      value = await evaluate(extract, body)
    } catch (err) {
      throw badRequest(`the payload does not fit ${system.id}'s extract expression: ${describeJsonataError(err)}`)
    }
  }
  // Say where a wrong value came from: the system's expression made it, or an array was taken
  // as the hub's own form, which the expression never sees.
  const origin = extract
    ? ` (as ${system.id}'s extract expression made it from the payload)`
    : system.webhooks.extract && Array.isArray(body) ? ` (an array is read as the hub's own {scope, id} items; ${system.id}'s extract expression reads one payload)` : ''
  const parsed = Array.isArray(value) ? check(items, value) : check(item, value)
  if (!parsed.ok) throw invalid(parsed.issues.map(i => ({ ...i, message: i.message + origin })))
  const list = Array.isArray(parsed.value) ? parsed.value : [parsed.value]
  const accepted = inboundScopes(system)
  const wrong = list.findIndex(e => !accepted.includes(e.scope))
  if (wrong >= 0) {
    const where = Array.isArray(value) ? `[${wrong}].scope` : 'scope'
    const scope = parseScope(list[wrong].scope)
    const why = scope && scope.action !== 'poll' ? unfetchable(system, scope.type, scope.action) : undefined
    throw fieldError(where, `'${list[wrong].scope}' is not a scope ${system.id} may send${origin}${why ? ` (${why})` : ''}; accepted: ${accepted.join(', ') || 'none (no inbound flows)'}`, { acceptedScopes: accepted })
  }
  return list.map(e => {
    const { type, action } = parseScope(e.scope)!
    return { system: system.id, type, action: action as InboundJob['action'], id: e.id, ...(e.debug ? { debug: true } : {}) }
  })
}

const MAX_EVENT_ID = 255

/**
 * The event id of a delivery (`webhook-id`, else `Idempotency-Key`), checked like any stored
 * text: a header the database cannot index is this request's 400, not a failed group commit.
 */
export function eventIdOf (headers: Record<string, string | string[] | undefined>): string | undefined {
  for (const name of ['webhook-id', 'idempotency-key']) {
    const value = headers[name]
    if (typeof value !== 'string' || !value) continue
    const problem = textProblem(value, MAX_EVENT_ID)
    if (problem) throw fieldError(`headers.${name}`, problem)
    return value
  }
  return undefined
}
