import { ConnectorError } from '../src/connectors/errors.ts'
import { callSystem, endpointPath } from '../src/connectors/http.ts'
import { inTransaction } from '../src/db/pool.ts'
import { applyMappings, checkRequired, getPath, passesFilter } from '../src/mapping/map.ts'
import type { PipelineContext } from '../src/pipeline/context.ts'
import { PermanentError } from '../src/pipeline/failures.ts'
import { fanOut } from '../src/pipeline/fan-out.ts'
import type { InboundJob } from '../src/pipeline/jobs.ts'
import type { JobRun, JobSpec } from '../src/pipeline/run-job.ts'
import { INBOUND } from '../src/queue/queues.ts'
import { addHistory } from '../src/stores/history.ts'
import { findLink, softDelete } from '../src/stores/records.ts'
import { findFlow } from '../src/stores/systems.ts'

// A live change is fetched once it is this old. Webhooks for the same record arriving meanwhile
// coalesce into the one queued job (stately queue), so a burst costs at most two fetches: this
// one and one after it. Under load jobs are older than this when they start, and never wait.
const COALESCE_MS = 150

// Fetch the full record from its source, map it, store it through its link and, when it
// changed, fan the change out in the same transaction.
async function handle (ctx: PipelineContext, run: JobRun<InboundJob>): Promise<object> {
  const { data, trace } = run
  const scope = `${data.type}/${data.action}`
  const system = await ctx.systems.get(data.system)
  if (!system) throw new PermanentError(`system ${data.system} is not configured`)
  const flow = findFlow(system, data.type, 'inbound', data.action)
  if (!flow) throw new PermanentError(`${data.system} has no enabled inbound flow for ${scope}`)
  const history = { type: data.type, systemId: system.id, direction: 'inbound' as const, action: data.action, externalId: data.id, jobId: run.id }
  const skip = async (reason: string, recordId?: string) => {
    await ctx.history({ ...history, recordId, outcome: 'skipped', reason })
    trace?.add('skipped', { reason })
    return { outcome: 'skipped', reason }
  }

  const endpoints = system.types[data.type]
  const get = endpoints?.get
  const fetchRecord = async (endpoint: NonNullable<typeof get>) => {
    const { body } = await callSystem(system, { method: endpoint.method, path: endpointPath(endpoint, { id: data.id }), step: 'fetch' }, trace, ctx.pace)
    return endpoints?.recordPath ? getPath(body, endpoints.recordPath) : body
  }
  const gone = (err: unknown) => err instanceof ConnectorError && err.status === 404

  if (data.action === 'delete') {
    const recordId = await findLink(ctx.pool, system.id, data.type, data.id)
    if (!recordId) return await skip(`${data.type} ${data.id} of ${system.id} is not linked to a hub record`)
    // A manual sync's delete line may be wrong: deleting a record its source still has would
    // delete it at every destination. A type whose source has no get is taken at its word.
    if (data.ifGone && get) {
      const still = await fetchRecord(get).then(() => true, err => { if (gone(err)) return false; throw err })
      if (still) return await skip(`${system.id} still has ${data.type} ${data.id}: not deleted (a delete needs the record gone from its source)`, recordId)
    }
    return await inTransaction(ctx.pool, async tx => {
      const deleted = await softDelete(tx, recordId)
      await addHistory(tx, { ...history, recordId, outcome: deleted ? 'deleted' : 'unchanged', reason: deleted ? null : 'already deleted' })
      const outbound = deleted ? await fanOut(ctx, tx, { recordId, type: data.type, action: 'delete', origin: system.id, debug: data.debug, batchId: data.batchId }) : []
      return { outcome: deleted ? 'deleted' : 'unchanged', recordId, outbound }
    })
  }

  // A poll that listed whole records (poll.fullRecords) carries the record: no fetch.
  let source = data.record
  if (source === undefined) {
    if (!get) throw new PermanentError(`${system.id} has no get endpoint for ${data.type}`)
    try {
      source = await fetchRecord(get)
    } catch (err) {
      // Gone at the source (deleted since the webhook, or a wrong id): nothing to retry.
      if (gone(err)) return await skip(`not found in ${system.id} (404)`)
      throw err
    }
  }
  if (!source || typeof source !== 'object') throw new PermanentError(`${system.id} returned no ${data.type} record${endpoints?.recordPath ? ` at ${endpoints.recordPath}` : ''}`)
  if (!await passesFilter(flow, source)) return await skip('filtered out by the inbound flow')
  const mapped = await applyMappings(flow.mappings, source)
  trace?.add('map', { input: source, output: mapped })
  const missing = checkRequired(flow.required, mapped)
  if (missing.length) throw new PermanentError(`required field missing after mapping: ${missing.join(', ')}`)

  const { recordId, outcome, outbound } = await ctx.writeRecord({
    type: data.type, origin: system.id, linked: true, externalId: data.id, data: mapped, mode: 'merge',
    action: data.action, jobId: run.id, debug: data.debug, batchId: data.batchId, trace
  })
  return { outcome, recordId, outbound }
}

export const inbound: JobSpec<InboundJob> = {
  queue: INBOUND,
  direction: 'inbound',
  handle,
  minAgeMs: data => data.debug || data.batchId || data.action === 'delete' ? 0 : COALESCE_MS,
  ids: data => ({ externalId: data.id })
}
