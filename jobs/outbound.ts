import { collisionOf } from '../src/config/systems.ts'
import type { Collision, FollowUp, SystemConfig, TypeEndpoints } from '../src/config/systems.ts'
import { ConnectorError } from '../src/connectors/errors.ts'
import { callSystem, endpointPath, fillTemplate } from '../src/connectors/http.ts'
import type { CallRequest, CallResponse } from '../src/connectors/http.ts'
import { applyMappings, checkRequired, getPath, parsePath, passesFilter } from '../src/mapping/map.ts'
import type { DataType } from '../src/models/index.ts'
import type { PipelineContext } from '../src/pipeline/context.ts'
import { PermanentError } from '../src/pipeline/failures.ts'
import type { OutboundJob } from '../src/pipeline/jobs.ts'
import type { JobRun, JobSpec } from '../src/pipeline/run-job.ts'
import { OUTBOUND } from '../src/queue/queues.ts'
import { findLink, removeLink } from '../src/stores/records.ts'
import { findFlow } from '../src/stores/systems.ts'

type Payload = Record<string, unknown>
type Call = (req: CallRequest) => Promise<CallResponse>

// Push one canonical record to one destination: update when linked, else collision handling,
// else create and link; deletes only where supported; then the follow-up calls that are needed.
async function handle (ctx: PipelineContext, run: JobRun<OutboundJob>): Promise<object> {
  const { data, trace } = run
  const system = await ctx.systems.get(data.system)
  if (!system) throw new PermanentError(`system ${data.system} is not configured`)
  const found = await ctx.recordFor({ recordId: data.recordId, systemId: system.id })
  const record = found.record
  if (!record) throw new PermanentError(`hub ${data.type} ${data.recordId} does not exist`)
  const endpoints = system.types[data.type] ?? {} as TypeEndpoints
  const flow = findFlow(system, data.type, 'outbound', data.action)
  let externalId = found.externalId
  const call: Call = req => callSystem(system, req, trace, ctx.pace)
  const done = async (outcome: string, reason?: string) => {
    await ctx.history({ recordId: record.id, type: data.type, systemId: system.id, direction: 'outbound', action: data.action, outcome, reason, externalId, jobId: run.id })
    trace?.add(outcome, { reason, externalId })
    return { outcome, reason, externalId }
  }

  if (data.action === 'delete') {
    if (!externalId) return await done('skipped', `not linked in ${system.id}: nothing to delete`)
    // A delete goes out for a record deleted in the hub only. A manual outbound delete of a live
    // record, or a delete the record's coming back overtook, would remove it there and drop its
    // link, and its next update would create it there again.
    if (!record.deletedAt) return await done('skipped', `the hub's ${data.type} is not deleted: not deleted in ${system.id}`)
    if (!flow || !endpoints.delete) return await done('skipped', `delete not supported by ${system.id}`)
    try {
      await call({ method: endpoints.delete.method, path: endpointPath(endpoints.delete, { id: externalId }), step: 'delete' })
    } catch (err) {
      // Already gone there: the goal is reached.
      if (!(err instanceof ConnectorError && err.status === 404)) throw err
    }
    await removeLink(ctx.pool, system.id, data.type, record.id)
    return await done('deleted')
  }

  if (!flow) return await done('skipped', `${system.id} has no enabled outbound flow for ${data.type}/${data.action}`)
  if (record.deletedAt) return await done('skipped', 'the record was deleted in the hub')
  if (!await passesFilter(flow, record.data)) return await done('skipped', 'filtered out by the outbound flow')
  const mapped = await applyMappings(flow.mappings, record.data)
  trace?.add('map', { input: record.data, output: mapped })
  const missing = checkRequired(flow.required, mapped)
  if (missing.length) throw new PermanentError(`required field missing after mapping: ${missing.join(', ')}`)
  // Follow-up fields are reconciled by their own calls, not sent with the record.
  const followUps = endpoints.followUps.filter(f => getPath(mapped, f.field) !== undefined)
  const body = withoutFields(mapped, followUps.map(f => f.field))

  let outcome: string
  let response: unknown
  if (externalId) {
    response = await update(call, system, endpoints, externalId, body)
    outcome = 'updated'
  } else {
    let collision = collisionOf(flow)
    // A rerun's match may be this delivery's own create, sent before the run died unlinked: link it.
    if (run.rerun && collision.method === 'error') collision = { ...collision, method: 'link' }
    const key = matchKey(system, data.type, endpoints, collision, mapped)
    let match = await findExisting(call, system, data.type, endpoints, collision, key)
    if (match === undefined) {
      if (!endpoints.create) throw new PermanentError(`${system.id} has no create endpoint for ${data.type}`)
      try {
        // The same key on every run of this delivery, for destinations that de-duplicate by it.
        const headers = system.idempotency ? { [system.idempotency.header]: run.deliveryId } : undefined
        response = (await call({ method: endpoints.create.method, path: endpointPath(endpoints.create, mapped), body, step: 'create', headers })).body
      } catch (err) {
        // A destination that de-duplicates by itself refuses the create: that is the collision
        // (created since the lookup, or not yet visible to it), handled as if the lookup had found it.
        if (!(err instanceof ConnectorError && err.status !== undefined && collision.duplicateStatuses.includes(err.status))) throw err
        match = await findExisting(call, system, data.type, endpoints, collision, key)
        if (match === undefined) throw new PermanentError(`${err.message}; a duplicate, but ${typeof key === 'string' ? key : `the lookup by ${key.by} finds no match`}`, err.status)
      }
    }
    if (match !== undefined) {
      externalId = match.id
      await link(ctx, record.id, system.id, data.type, match.id, `by ${match.by}`)
      if (collision.method === 'update-and-link') response = await update(call, system, endpoints, match.id, body)
      outcome = 'linked'
    } else {
      const id = getPath(response, endpoints.create!.idPath)
      if (id === undefined || id === null || id === '') throw new PermanentError(`${system.id} create response has no id at ${endpoints.create!.idPath}`)
      externalId = String(id)
      await link(ctx, record.id, system.id, data.type, externalId, 'returned by its create')
      outcome = 'created'
    }
  }
  const followed = await reconcile(call, endpoints, followUps, mapped, externalId, response)
  return { ...await done(outcome, followed.length ? `follow-up: ${followed.join(', ')}` : undefined) }
}

/**
 * Link `recordId` to the destination's record. The destination now has it, so the link must
 * survive a crash, or a re-run would create it there a second time. Two hub records matching
 * one destination record is a conflict only a person can resolve (merge them, or fix the data).
 */
async function link (ctx: PipelineContext, recordId: string, systemId: string, type: DataType, externalId: string, how: string): Promise<void> {
  if (await ctx.linkDurably({ systemId, type, externalId, recordId })) return
  const other = await findLink(ctx.pool, systemId, type, externalId)
  if (other === recordId) return // linked by an earlier run of this job
  // Not linked to anyone now: this record got another link meanwhile; a retry sends an update.
  if (other === undefined) throw new Error(`${type} ${recordId} was linked in ${systemId} while matching ${externalId}`)
  throw new PermanentError(`${type} ${recordId} and ${type} ${other} both match ${systemId} record ${externalId} (${how}); link conflict`, 409)
}

async function update (call: Call, system: SystemConfig, endpoints: TypeEndpoints, externalId: string, body: Payload): Promise<unknown> {
  if (!endpoints.update) throw new PermanentError(`${system.id} has no update endpoint`)
  return (await call({ method: endpoints.update.method, path: endpointPath(endpoints.update, { ...body, id: externalId }), body, step: 'update' })).body
}

/** What the lookup matches on (`by` is `field=value`, for messages), or why there is no lookup. */
function matchKey (system: SystemConfig, type: DataType, endpoints: TypeEndpoints, collision: Collision, mapped: Payload): { value: unknown, by: string } | string {
  if (!endpoints.lookup) return `${system.id} has no types.${type}.lookup to find it`
  const field = collision.field ?? endpoints.lookup.field
  const value = getPath(mapped, field)
  if (value === undefined || value === null || value === '') return `this record has no ${field} to look it up by`
  return { value, by: `${field}=${String(value)}` }
}

/**
 * The destination's id of a record that already exists there (matched by the lookup), or
 * undefined. With collision method 'error' a match is a permanent failure.
 */
async function findExisting (call: Call, system: SystemConfig, type: DataType, endpoints: TypeEndpoints, collision: Collision, key: ReturnType<typeof matchKey>): Promise<{ id: string, by: string } | undefined> {
  const lookup = endpoints.lookup
  if (!lookup || typeof key === 'string') return undefined
  const { body } = await call({ method: lookup.method, path: endpointPath(lookup, { [lookup.field]: key.value }), step: 'lookup' })
  const matches = lookup.resultPath ? getPath(body, lookup.resultPath) : body
  if (matches === undefined || matches === null) return undefined
  // Reading an object as "no match" would create a duplicate on every run.
  if (!Array.isArray(matches)) {
    throw new PermanentError(lookup.resultPath
      ? `${system.id}'s ${type} lookup answered no list at ${lookup.resultPath}; set types.${type}.lookup.resultPath to where the matches are`
      : `${system.id}'s ${type} lookup answered ${typeof matches === 'object' ? 'an object' : `a ${typeof matches}`}; set types.${type}.lookup.resultPath to where the matches are`)
  }
  if (matches.length === 0) return undefined
  const id = getPath(matches[0], lookup.idPath)
  if (id === undefined || id === null || id === '' || typeof id === 'object') {
    throw new PermanentError(`${system.id}'s ${type} lookup (by ${key.by}) answered a match with no id at ${lookup.idPath}; set types.${type}.lookup.idPath`)
  }
  if (collision.method === 'error') {
    throw new PermanentError(`${system.id} already has this record (id ${String(id)}, by ${key.by}) and the collision method is 'error'`, 409)
  }
  return { id: String(id), by: key.by }
}

const truthy = (v: unknown) => v === true || v === 'true' || v === 1 || v === '1'

/** Follow-up calls (seed 003's subscribe/unsubscribe), made only when the destination's state differs. */
async function reconcile (call: Call, endpoints: TypeEndpoints, followUps: FollowUp[], mapped: Payload, externalId: string, response: unknown): Promise<string[]> {
  const made: string[] = []
  for (const f of followUps) {
    let current = getPath(response, f.statePath)
    if (current === undefined && endpoints.get) {
      current = getPath((await call({ method: endpoints.get.method, path: endpointPath(endpoints.get, { id: externalId }), step: 'follow-up state' })).body, f.statePath)
    }
    const desired = truthy(getPath(mapped, f.field))
    if (desired === truthy(current)) continue
    const target = desired ? f.whenTrue : f.whenFalse
    const values = { ...mapped, id: externalId }
    const body = target.body ? Object.fromEntries(Object.entries(target.body).map(([k, v]) => [k, fillTemplate(v, values, String)])) : undefined
    await call({ method: target.method, path: endpointPath(target, values), body, step: `follow-up ${f.field}` })
    made.push(`${f.field} → ${desired}`)
  }
  return made
}

/** A copy of `payload` without the given dot paths. */
function withoutFields (payload: Payload, paths: string[]): Payload {
  const copy = structuredClone(payload)
  for (const path of paths) {
    const parts = parsePath(path)
    const parent = parts.length > 1 ? getPath(copy, parts.slice(0, -1)) : copy
    if (parent && typeof parent === 'object') delete (parent as Record<string | number, unknown>)[parts[parts.length - 1]]
  }
  return copy
}

export const outbound: JobSpec<OutboundJob> = {
  queue: OUTBOUND,
  direction: 'outbound',
  handle,
  ids: data => ({ recordId: data.recordId })
}
