import { CronExpressionParser } from 'cron-parser'
import { z } from 'zod'
import { urlRule } from '../connectors/address-guard.ts'
import { canonicalSchemas, dataTypes } from '../models/index.ts'
import type { DataType } from '../models/index.ts'
import { targetProblem } from '../mapping/fields.ts'
import { compile } from '../mapping/jsonata.ts'
import { parsePath } from '../mapping/map.ts'

// The contract between a config file (or PUT /v1/systems/:id) and the rest of the hub.
// Config objects are strict, unlike canonical records: a misspelt key (baseURL,
// signingSecret) must fail loudly rather than be ignored.

export const actions = ['create', 'update', 'delete'] as const
export type Action = typeof actions[number]
export const directions = ['inbound', 'outbound'] as const
export const httpMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const
export type HttpMethod = typeof httpMethods[number]

/** JSONata source text; compiling it here also warms the cache the mapper uses. */
const expression = z.string().min(1).superRefine((source, ctx) => {
  try {
    compile(source)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid JSONata: ${(err as Error).message}` })
  }
})

/** A dot/[n] path as understood by getPath/setPath. */
const dotPath = z.string().min(1).superRefine((path, ctx) => {
  try {
    parsePath(path)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
})

// YAML turns `limit: 50` into a number; query and body values are text on the wire anyway.
const text = z.union([z.string(), z.number(), z.boolean()]).transform(String)

const PLACEHOLDER = /\{([^{}]*)\}/g

/** Placeholder names used in an endpoint's path and query values ('{id}', '{email}'). */
export function placeholdersOf (endpoint: { path: string, query?: Record<string, string> }): string[] {
  const texts = [endpoint.path, ...Object.values(endpoint.query ?? {})]
  return texts.flatMap((t) => [...t.matchAll(PLACEHOLDER)].map((m) => m[1]))
}

const endpointFields = (method: HttpMethod) => ({
  method: z.enum(httpMethods).default(method),
  path: z.string().regex(/^\//, "must start with '/'").superRefine((path, ctx) => {
    for (const m of path.matchAll(PLACEHOLDER)) {
      if (m[1] === '') ctx.addIssue({ code: 'custom', message: 'empty placeholder {}' })
    }
  }),
  query: z.record(z.string(), text).optional()
})

const endpoint = (method: HttpMethod) => z.strictObject(endpointFields(method))

const endpointSchema = endpoint('GET')

const followUpCall = z.strictObject({
  ...endpointFields('POST'),
  // Values may hold {field} placeholders filled from the mapped payload.
  body: z.record(z.string(), text).optional()
})

const followUpSchema = z.strictObject({
  field: dotPath,
  statePath: dotPath,
  whenTrue: followUpCall,
  whenFalse: followUpCall
})

const MAX_PAGE_SIZE = 1_000

// How a listing moves to its next page: a page number, an offset, or a token or link the
// answer carries at `path` (sent back in `param`, or followed as a link when `param` is absent).
const listPagingSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('page'), param: z.string().min(1).default('page'), first: z.int().min(0).default(1) }),
  z.strictObject({ kind: z.literal('offset'), param: z.string().min(1).default('offset') }),
  z.strictObject({ kind: z.literal('next'), path: dotPath, param: z.string().min(1).optional() })
])

// pg-boss fires schedules by the minute; cron-parser alone would read '' as every minute, a
// sixth field as seconds, a fourth as the minute, and a step past its field's range as its start.
const CRON_FIELDS = [['minute', 59], ['hour', 23], ['day-of-month', 31], ['month', 12], ['day-of-week', 7]] as const
const cron = z.string().superRefine((text, ctx) => {
  const fields = text.trim().split(/\s+/).filter(Boolean)
  const issue = (message: string) => ctx.addIssue({ code: 'custom', message })
  if (fields.length !== CRON_FIELDS.length) {
    return issue(`must be 5 cron fields (${CRON_FIELDS.map(f => f[0]).join(' ')}), found ${fields.length}: '${text}'`)
  }
  for (const [i, field] of fields.entries()) {
    const [name, max] = CRON_FIELDS[i]
    for (const [, step] of field.matchAll(/\/(\d+)/g)) {
      if (Number(step) < 1 || Number(step) > max) return issue(`the ${name} field's step /${step} is outside 1-${max}`)
    }
  }
  try {
    CronExpressionParser.parse(text)
  } catch (err) {
    issue(`invalid cron expression: ${(err as Error).message}`)
  }
})

// Pull sync of an inbound flow (src/poll): a schedule, and how to tell what changed.
const pollSchema = z.strictObject({
  schedule: cron.default('0 * * * *'),
  // cursor: the source filters by a modified token; audit: it cannot, so the hub diffs.
  mode: z.enum(['cursor', 'audit']),
  batchLimit: z.int().min(1).max(100_000).default(1_000),
  // The listing returns whole records: map them as listed instead of fetching each one.
  fullRecords: z.boolean().default(false)
})

const typeEndpointsSchema = z.strictObject({
  get: endpoint('GET').optional(),
  create: z.strictObject({ ...endpointFields('POST'), idPath: dotPath.default('id') }).optional(),
  update: endpoint('PUT').optional(),
  delete: endpoint('DELETE').optional(),
  lookup: z.strictObject({
    ...endpointFields('GET'),
    field: z.string().min(1),
    resultPath: dotPath.optional(),
    idPath: dotPath.default('id')
  }).optional(),
  // The listing a poll pages through (src/poll/list.ts).
  list: z.strictObject({
    ...endpointFields('GET'),
    // Where the records are in an answer; absent, the answer is the array itself.
    itemsPath: dotPath.optional(),
    idPath: dotPath.default('id'),
    // Cursor mode: each record's modified token, and the query parameter that filters by it
    // (inclusive: token >= the value sent).
    modifiedPath: dotPath.optional(),
    sinceParam: z.string().min(1).optional(),
    paging: listPagingSchema.default({ kind: 'page', param: 'page', first: 1 }),
    pageSize: z.int().min(1).max(MAX_PAGE_SIZE).default(MAX_PAGE_SIZE),
    pageSizeParam: z.string().min(1).optional()
  }).optional(),
  recordPath: dotPath.optional(),
  followUps: z.array(followUpSchema).default([])
})

const types = z.strictObject({
  customer: typeEndpointsSchema.optional(),
  product: typeEndpointsSchema.optional(),
  order: typeEndpointsSchema.optional()
} satisfies Record<DataType, unknown>, {
  error: (iss) => iss.code === 'unrecognized_keys' ? `unknown data type (expected ${dataTypes.join(', ')})` : undefined
})

const target = dotPath

const mappingSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('field'), from: dotPath, to: target }),
  z.strictObject({ kind: z.literal('static'), value: z.json(), to: target }),
  z.strictObject({ kind: z.literal('expression'), expression, to: target })
])

const collisionSchema = z.strictObject({
  method: z.enum(['error', 'link', 'update-and-link']).default('error'),
  // The mapped-payload field matched on; defaults to the lookup's field.
  field: dotPath.optional(),
  // Answers to a create that mean "it is already there": they start collision handling
  // (lookup, then link) instead of failing the record.
  duplicateStatuses: z.array(z.int().min(400).max(499)).min(1).default([409])
})

/** A flow's collision settings with every default filled in (a flow may leave them out). */
export const collisionOf = (flow: Pick<Flow, 'collision'>): Collision => flow.collision ?? collisionSchema.parse({})

const MAX_FLOWS = 50
const MAX_MAPPINGS = 500

const flowSchema = z.strictObject({
  type: z.enum(dataTypes),
  direction: z.enum(directions),
  actions: z.array(z.enum(actions)).min(1).default([...actions]).superRefine((list, ctx) => {
    list.forEach((a, i) => {
      if (list.indexOf(a) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate action ${a}` })
    })
  }),
  enabled: z.boolean().default(true),
  filter: expression.optional(),
  mappings: z.array(mappingSchema).max(MAX_MAPPINGS, `at most ${MAX_MAPPINGS} mappings per flow`).default([]),
  required: z.array(dotPath).default([]),
  collision: collisionSchema.optional(),
  poll: pollSchema.optional()
})

const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid HTTP header name')

const authSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('none') }),
  z.strictObject({ kind: z.literal('bearer'), token: z.string().min(1) }),
  z.strictObject({ kind: z.literal('basic'), username: z.string().min(1), password: z.string() }),
  z.strictObject({
    kind: z.literal('header'),
    name: headerName,
    value: z.string().min(1)
  })
])

const signingSecret = z.string().refine((s) => {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(s)
  const bytes = m ? Buffer.from(m[1], 'base64').length : 0
  return bytes >= 24 && bytes <= 64
}, 'must be whsec_ followed by base64 of 24 to 64 random bytes (Standard Webhooks)')

const webhooksSchema = z.strictObject({
  // Bearer keys guard the ingest endpoint; short ones are guessable.
  keys: z.array(z.string().min(16, 'must be at least 16 characters')).default([]),
  signingSecrets: z.array(signingSecret).default([]),
  extract: expression.optional()
})

const retrySchema = z.strictObject({
  attempts: z.int().min(1).max(100).default(16),
  delayMs: z.int().min(10).max(3_600_000).default(1_000),
  maxDelayMs: z.int().min(10).max(86_400_000).default(600_000)
}).refine(r => r.maxDelayMs >= r.delayMs, { path: ['maxDelayMs'], message: 'must be at least delayMs' })

/** The retry schedule of a system that does not set one. */
export const defaultRetry = retrySchema.parse({})

const systemObject = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be 1-63 of a-z, 0-9, _ and -, starting with a letter or digit'),
  name: z.string().min(1).optional(),
  connector: z.enum(['http']).default('http'),
  // Stored without a trailing slash so callers can join it with an endpoint path.
  baseUrl: z.url({ protocol: /^https?$/, error: iss => iss.input === undefined ? 'required' : 'must be an http:// or https:// URL' }).transform((u) => u.replace(/\/+$/, '')),
  // Off, the hub calls public addresses only (src/connectors/address-guard.ts): not loopback,
  // private networks, link-local, CGNAT or a cloud metadata service.
  allowPrivateNetwork: z.boolean().default(false),
  auth: authSchema.default({ kind: 'none' }),
  webhooks: webhooksSchema.prefault({}),
  throttle: z.strictObject({
    maxConcurrent: z.int().min(1).max(100).default(4),
    perSecond: z.number().positive().optional()
  }).prefault({}),
  timeoutMs: z.int().min(100).max(120_000).default(10_000),
  // A response is held in memory whole; 64 MB bounds what one call can cost the process.
  maxResponseBytes: z.int().positive().max(64 * 1024 * 1024, 'must be at most 67108864 (64 MB)').default(5 * 1024 * 1024),
  // Transient failures (connection, timeout, 408, 425, 429, 5xx) are tried `attempts` times in
  // all, the delays doubling from delayMs up to maxDelayMs (src/pipeline/failures.ts).
  retry: retrySchema.prefault({}),
  // After `failures` consecutive transient failures the system's jobs are held (no attempt
  // spent) and one probe job at a time checks, every probeAfterMs, whether it is back.
  breaker: z.strictObject({
    failures: z.int().min(1).max(1_000).default(5),
    probeAfterMs: z.int().min(10).max(3_600_000).default(30_000)
  }).prefault({}),
  // Sent with every create, the same value on every rerun of one delivery, for systems that
  // deduplicate on it.
  idempotency: z.strictObject({ header: headerName }).optional(),
  types: types.default({}),
  // 3 types x 2 directions x 3 actions is 18 distinct flows; the bound keeps a runaway document
  // from costing the hub more than a quick refusal.
  flows: z.array(flowSchema).max(MAX_FLOWS, `at most ${MAX_FLOWS} flows per system`).default([])
})

type SystemObject = z.output<typeof systemObject>

/** Rules that need more than one field; paths are relative to the system. */
function checkSystem (s: SystemObject, ctx: z.RefinementCtx): void {
  const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message })

  // Checked again on every connection, after DNS; an IP literal fails here already.
  const refused = s.allowPrivateNetwork ? undefined : urlRule(s.baseUrl)
  if (refused) issue(['baseUrl'], `refusing to call ${new URL(s.baseUrl).hostname} (${refused}); set allowPrivateNetwork: true on the system to allow it`)

  for (const [type, te] of Object.entries(s.types) as [DataType, TypeEndpoints | undefined][]) {
    if (!te) continue
    for (const op of ['get', 'update', 'delete'] as const) {
      const ep = te[op]
      if (ep && !placeholdersOf(ep).includes('id')) issue(['types', type, op, 'path'], 'must contain {id} (in the path or a query value)')
    }
    if (te.lookup && !placeholdersOf(te.lookup).includes(te.lookup.field)) {
      issue(['types', type, 'lookup', 'path'], `must contain {${te.lookup.field}} (in the path or a query value)`)
    }
    // A fixed value where the hub pages or filters would ask for the same page on every call.
    if (te.list?.query) {
      const set = { 'paging.param': te.list.paging.param, sinceParam: te.list.sinceParam, pageSizeParam: te.list.pageSizeParam }
      for (const [setting, param] of Object.entries(set)) {
        if (param !== undefined && param in te.list.query) issue(['types', type, 'list', 'query', param], `the hub sets ${param} itself on each list call (${setting}); leave it out of query`)
      }
    }
  }

  const handledBy = new Map<string, number>()
  s.flows.forEach((flow, i) => {
    const at = (...rest: PropertyKey[]) => ['flows', i, ...rest]
    const te = s.types[flow.type]
    if (!te) {
      issue(at('type'), `types.${flow.type} is not configured`)
      return
    }
    if (flow.direction === 'inbound') {
      if (!te.get && !flow.poll?.fullRecords) issue(at('direction'), `inbound needs types.${flow.type}.get (or a poll with fullRecords: true)`)
      if (flow.collision) issue(at('collision'), 'only outbound flows handle collisions')
      if (flow.poll) {
        if (!te.list) issue(at('poll'), `polling needs types.${flow.type}.list`)
        else if (flow.poll.mode === 'cursor') {
          for (const key of ['modifiedPath', 'sinceParam'] as const) {
            if (!te.list[key]) issue(['types', flow.type, 'list', key], `required by the cursor-mode poll of flows[${i}]`)
          }
        }
      }
      // The canonical model drops keys it does not know: a misspelt target would lose its value
      // on every record without a word.
      const model = canonicalSchemas[flow.type]
      const checkTarget = (path: string, where: PropertyKey[]) => {
        const problem = targetProblem(model, flow.type, path)
        if (problem) issue(where, problem)
      }
      flow.mappings.forEach((m, k) => checkTarget(m.to, at('mappings', k, 'to')))
      flow.required.forEach((path, k) => checkTarget(path, at('required', k)))
    } else {
      if (flow.poll) issue(at('poll'), 'only inbound flows poll')
      for (const action of flow.actions) {
        if (!te[action]) issue(at('actions'), `${action} needs types.${flow.type}.${action}`)
      }
      if (flow.collision && flow.collision.method !== 'error' && !te.lookup) {
        issue(at('collision', 'method'), `${flow.collision.method} needs types.${flow.type}.lookup`)
      }
      // Outbound paths name fields of the payload the mappings build (the destination's names).
      const targets = flow.mappings.map((m) => m.to)
      const choices = targets.length ? `mapped fields: ${targets.join(', ')}` : 'the flow maps no fields'
      flow.required.forEach((path, k) => {
        if (!isMapped(path, targets)) issue(at('required', k), `'${path}' is not a mapped field (${choices})`)
      })
      // An unmapped match field has no value, so the lookup would be skipped and a duplicate created.
      const field = flow.collision?.field ?? te.lookup?.field
      if (field !== undefined && targets.length && flow.actions.some((a) => a !== 'delete') && !isMapped(field, targets)) {
        issue(at('collision', 'field'), flow.collision?.field === undefined
          ? `the lookup's field '${field}' is not a mapped field; set collision.field to the one that holds it (${choices})`
          : `'${field}' is not a mapped field (${choices})`)
      }
    }
    if (flow.mappings.length === 0 && flow.actions.some((a) => a !== 'delete')) {
      issue(at('mappings'), 'needs at least one mapping unless the flow only deletes')
    }
    // One flow per (type, direction, action): the pipeline must never have to choose. Each
    // duplicate is named once, against the first flow (a pairwise report grows quadratically).
    for (const action of flow.actions) {
      const key = `${flow.direction} ${flow.type} ${action}`
      const first = handledBy.get(key)
      if (first === undefined) handledBy.set(key, i)
      else if (first !== i) issue(at('actions'), `${key} is already handled by flows[${first}]`)
    }
  })
}

/** `path` is a mapping target or lies inside one (`billing.city` inside `billing`). */
const isMapped = (path: string, targets: readonly string[]) =>
  targets.some((t) => path === t || path.startsWith(`${t}.`) || path.startsWith(`${t}[`))

export const systemSchema = systemObject
  .superRefine(checkSystem)
  .transform((s) => ({ ...s, name: s.name ?? s.id }))

// Top-level `x-...` keys are ignored (as in docker compose) so YAML anchors have a home;
// any other unknown key is still a mistake.
export const configFileSchema = z.looseObject({
  systems: z.array(systemSchema)
}).superRefine((file, ctx) => {
  for (const key of Object.keys(file)) {
    if (key !== 'systems' && !key.startsWith('x-')) ctx.addIssue({ code: 'custom', path: [key], message: 'unknown key' })
  }
  const seen = new Map<string, number>()
  file.systems.forEach((s, i) => {
    const first = seen.get(s.id)
    if (first === undefined) seen.set(s.id, i)
    else ctx.addIssue({ code: 'custom', path: ['systems', i, 'id'], message: `duplicate id ${s.id} (also systems[${first}])` })
  })
})

export type SystemConfig = z.output<typeof systemSchema>
export type SystemInput = z.input<typeof systemSchema>
export type TypeEndpoints = z.output<typeof typeEndpointsSchema>
export type Endpoint = z.output<typeof endpointSchema>
export type ListEndpoint = NonNullable<TypeEndpoints['list']>
export type Poll = z.output<typeof pollSchema>
export type FollowUp = z.output<typeof followUpSchema>
export type FollowUpCall = z.output<typeof followUpCall>
export type Flow = z.output<typeof flowSchema>
export type Collision = z.output<typeof collisionSchema>
export type Mapping = z.output<typeof mappingSchema>
export type Auth = z.output<typeof authSchema>
export type RetryPolicy = z.output<typeof retrySchema>
