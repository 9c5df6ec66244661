import type { FollowUp, SystemConfig, TypeEndpoints } from '../src/config/systems.ts'
import { ConnectorError } from '../src/connectors/errors.ts'
import { callSystem, endpointPath, fillTemplate } from '../src/connectors/http.ts'
import type { CallRequest, CallResponse } from '../src/connectors/http.ts'
import { applyMappings, checkRequired, getPath, parsePath, passesFilter } from '../src/mapping/map.ts'
import { inTransaction } from '../src/db/pool.ts'
import type { DataType } from '../src/models/index.ts'
import type { PipelineContext } from '../src/pipeline/context.ts'
import { PermanentError } from '../src/pipeline/failures.ts'
import type { OutboundJob } from '../src/pipeline/jobs.ts'
import type { JobRun, JobSpec } from '../src/pipeline/run-job.ts'
import { OUTBOUND } from '../src/queue/queues.ts'
import { addHistory } from '../src/stores/history.ts'
import { addLink, getRecordFor, removeLink } from '../src/stores/records.ts'
import { findFlow } from '../src/stores/systems.ts'

type Payload = Record<string, unknown>
type Call = (req: CallRequest) => Promise<CallResponse>

// Push one canonical record to one destination: update when linked, else collision handling,
// else create and link; deletes only where supported; then the follow-up calls that are needed.
async function handle (ctx: PipelineContext, run: JobRun<OutboundJob>): Promise<object> {
  const { data, trace } = run
  const system = await ctx.systems.get(data.system)
  if (!system) throw new PermanentError(`system ${data.system} is not configured`)
  const found = await getRecordFor(ctx.pool, data.recordId, system.id)
  const record = found.record
  if (!record) throw new PermanentError(`hub ${data.type} ${data.recordId} does not exist`)
  const endpoints = system.types[data.type] ?? {} as TypeEndpoints
  const flow = findFlow(system, data.type, 'outbound', data.action)
  let externalId = found.externalId
  const call: Call = req => callSystem(system, req, trace, ctx.pace)
  const done = async (outcome: string, reason?: string) => {
    await addHistory(ctx.pool, { recordId: record.id, type: data.type, systemId: system.id, direction: 'outbound', action: data.action, outcome, reason, externalId, jobId: run.id })
    trace?.add(outcome, { reason, externalId })
    return { outcome, reason, externalId }
  }

  if (data.action === 'delete') {
    if (!externalId) return await done('skipped', `not linked in ${system.id}: nothing to delete`)
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
    const match = await findExisting(call, system, endpoints, flow.collision, mapped)
    if (match !== undefined) {
      if (!await durableLink(ctx, system.id, data.type, match, record.id)) {
        throw new PermanentError(`${system.id} ${data.type} ${match} matches by ${collisionField(endpoints, flow.collision)} but is already linked to another hub record`)
      }
      externalId = match
      if (flow.collision?.method === 'update-and-link') response = await update(call, system, endpoints, match, body)
      outcome = 'linked'
    } else {
      if (!endpoints.create) throw new PermanentError(`${system.id} has no create endpoint for ${data.type}`)
      response = (await call({ method: endpoints.create.method, path: endpointPath(endpoints.create, mapped), body, step: 'create' })).body
      const id = getPath(response, endpoints.create.idPath)
      if (id === undefined || id === null || id === '') throw new PermanentError(`${system.id} create response has no id at ${endpoints.create.idPath}`)
      externalId = String(id)
      if (!await durableLink(ctx, system.id, data.type, externalId!, record.id)) {
        throw new PermanentError(`${system.id} returned ${data.type} ${externalId}, which is already linked to another hub record`)
      }
      outcome = 'created'
    }
  }
  const followed = await reconcile(call, endpoints, followUps, mapped, externalId, response)
  return { ...await done(outcome, followed.length ? `follow-up: ${followed.join(', ')}` : undefined) }
}

// The destination now has the record: the link must survive a crash, or a re-run would create
// it there a second time.
const durableLink = (ctx: PipelineContext, systemId: string, type: DataType, externalId: string, recordId: string) =>
  inTransaction(ctx.pool, tx => addLink(tx, systemId, type, externalId, recordId), { durable: true })

async function update (call: Call, system: SystemConfig, endpoints: TypeEndpoints, externalId: string, body: Payload): Promise<unknown> {
  if (!endpoints.update) throw new PermanentError(`${system.id} has no update endpoint`)
  return (await call({ method: endpoints.update.method, path: endpointPath(endpoints.update, { ...body, id: externalId }), body, step: 'update' })).body
}

const collisionField = (endpoints: TypeEndpoints, collision?: { field?: string }) => collision?.field ?? endpoints.lookup?.field ?? ''

/**
 * The destination's id of a record that already exists there (matched by the lookup), or
 * undefined. With collision method 'error' a match is a permanent failure.
 */
async function findExisting (call: Call, system: SystemConfig, endpoints: TypeEndpoints, collision: { method: string, field?: string } | undefined, mapped: Payload): Promise<string | undefined> {
  const lookup = endpoints.lookup
  if (!lookup) return undefined
  const value = getPath(mapped, collisionField(endpoints, collision))
  if (value === undefined || value === null || value === '') return undefined
  const { body } = await call({ method: lookup.method, path: endpointPath(lookup, { [lookup.field]: value }), step: 'lookup' })
  const matches = lookup.resultPath ? getPath(body, lookup.resultPath) : body
  const first = Array.isArray(matches) ? matches[0] : undefined
  if (first === undefined) return undefined
  const id = String(getPath(first, lookup.idPath))
  if ((collision?.method ?? 'error') === 'error') {
    throw new PermanentError(`${system.id} already has this record (id ${id}, same ${lookup.field}) and the collision method is 'error'`, 409)
  }
  return id
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
