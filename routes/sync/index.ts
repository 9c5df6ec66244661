import { pipeline } from 'node:stream'
import type { Readable } from 'node:stream'
import { parse } from 'csv-parse'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { badRequest, HubError, invalid, notFound } from '../../src/errors.ts'
import { adminErrors, bodyErrors, errorResponses } from '../../src/http/schemas.ts'
import { csvRows } from '../../src/http/batches.ts'
import type { CsvRow } from '../../src/http/batches.ts'
import { byteLimit } from '../../src/http/byte-limit.ts'
import { check, dataTypes } from '../../src/models/index.ts'
import { enqueueBatch } from '../../src/sync/enqueue.ts'
import type { Line } from '../../src/sync/enqueue.ts'
import { planSync } from '../../src/sync/plan.ts'
import type { SyncParams, SyncPlan } from '../../src/sync/plan.ts'
import { batchStatus, batchStatusSchema } from '../../src/sync/status.ts'

const params = {
  system: z.string().optional().describe('inbound: the system to fetch from; outbound: the system whose external ids are given (else hub ids)'),
  type: z.enum(dataTypes).optional(),
  scope: z.string().optional().describe('`<type>/<action>`, e.g. `customer/update`; the default for lines without one'),
  action: z.enum(['create', 'update', 'delete', 'poll']).optional(),
  direction: z.enum(['inbound', 'outbound']).optional().describe('inbound (default): fetch from the system; outbound: push hub records to target only'),
  target: z.string().optional()
}
// Strict as the JSON body is: a misspelt ?debg=1 must not queue a plain batch.
const query = z.strictObject({ ...params, debug: z.stringbool().optional() })
// Strict: a misspelt `debug` or `target` is an error, not a batch that quietly does otherwise.
const jsonBody = z.strictObject({
  ...params,
  debug: z.boolean().optional(),
  ids: z.array(z.union([z.string(), z.number()]).transform(String)).min(1)
})

const MAX_CSV_BYTES = 64 * 1024 * 1024
const MAX_CSV_RECORD = 64 * 1024

const CSV_HELP = "a header row with an 'id' column (and optionally 'scope')"

const receipt = z.object({
  batchId: z.string(),
  queued: z.number().describe('ids accepted, less those coalesced; ids beyond the first 2,000 are stored and become jobs as workers take the first'),
  coalesced: z.number().describe('ids already waiting in a job of the same record when their job was made (for ids made into jobs later, see GET /v1/sync/{batchId})'),
  rejected: z.array(z.object({ line: z.number(), id: z.string(), reason: z.string() })).describe('the first ids refused, each with its line and reason'),
  rejectedCount: z.number()
}).describe('Queued: follow it with GET /v1/sync/{batchId}')

/** The rows of a CSV upload after its header (`first`, the rest of the header's batch, then `rows`), with their line numbers. */
async function * csvLines (first: CsvRow[], rows: AsyncIterator<CsvRow[]>, width: number, idAt: number, scopeAt: number): AsyncGenerator<Line[]> {
  const line = ({ record, line }: CsvRow): Line => {
    const read: Line = scopeAt >= 0 && record[scopeAt] ? { line, id: record[idAt] ?? '', scope: record[scopeAt] } : { line, id: record[idAt] ?? '' }
    // Ids pasted on one line (`1001,1002`) under an `id` header: all but the first would be lost.
    for (let i = width; i < record.length; i++) {
      if (record[i].trim() !== '') return { ...read, problem: `${record.length} cells, and the header has ${width}: one id a line` }
    }
    return read
  }
  yield first.map(line)
  for (;;) {
    const next = await rows.next()
    if (next.done) return
    yield next.value.map(line)
  }
}

// Manual sync at any scale: the ids stream into the database a chunk at a time, stored once;
// workers turn them into jobs as they have room (src/sync/expand.ts).
const sync: FastifyPluginAsyncZod = async (fastify) => {
  const { hub } = fastify

  fastify.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload))

  fastify.post('/', {
    preHandler: fastify.requireScope('write'),
    bodyLimit: MAX_CSV_BYTES,
    schema: {
      tags: ['sync'],
      summary: 'Queue a manual sync of any number of ids',
      description: 'JSON `{system, type, scope|action, ids[], debug?, direction?, target?}`, or a CSV body (`Content-Type: text/csv`, ' +
        CSV_HELP + ') with the other fields as query parameters. An inbound delete is done only once the source answers 404 ' +
        'for the record; one it still has is skipped, with why, in GET /v1/sync/:batchId.',
      security: [{ adminKey: [] }],
      querystring: query,
      documentedBody: {
        'application/json': jsonBody,
        'text/csv': z.string().describe(`${CSV_HELP}, then one id per line, e.g. "id,scope\n1001,customer/update"`)
      },
      response: { 202: receipt, ...errorResponses(...bodyErrors, ...adminErrors, 422) }
    }
  }, async (request, reply) => {
    const csv = (request.headers['content-type'] ?? '').startsWith('text/csv')
    let options: SyncParams
    let plan: SyncPlan | undefined
    let lines: AsyncIterable<Line[]> | Iterable<Line[]>
    if (csv) {
      options = request.query
      plan = await planSync(hub.systems, options)
      // A line is an id and perhaps a scope: one far longer is not a list of ids, and must not
      // be held in memory whole.
      const parser = parse({ bom: true, relax_column_count: true, max_record_size: MAX_CSV_RECORD })
      // pipeline (not pipe) so a client that goes away mid-upload ends the parse with an error,
      // and the batch is marked aborted rather than left waiting.
      pipeline(request.body as Readable, byteLimit(MAX_CSV_BYTES), parser, () => {})
      const rows = csvRows(parser)
      let header: string[]
      let rest: CsvRow[]
      try {
        const first = await rows.next()
        header = first.done ? [] : first.value[0].record.map(h => h.trim().toLowerCase())
        rest = first.done ? [] : first.value.slice(1)
        // A header and no line after it (the wrong file, an export that found nothing) is a
        // mistake, as `ids: []` is: refused before anything is stored.
        while (!plan.poll && !first.done && !rest.length) {
          const next = await rows.next()
          if (next.done) throw badRequest('the CSV has a header and no ids after it')
          rest = next.value
        }
      } catch (err) {
        if (err instanceof HubError) throw err
        throw badRequest(`the CSV could not be read: ${(err as Error).message}`)
      }
      const idAt = header.indexOf('id')
      if (idAt < 0) throw badRequest(`the CSV needs ${CSV_HELP}; found ${header.length ? header.map(h => `'${h}'`).join(', ') : 'no header'}`)
      lines = csvLines(rest, rows, header.length, idAt, header.indexOf('scope'))
    } else {
      const parsed = check(jsonBody, request.body)
      if (!parsed.ok) {
        // The rest is checked all the same: a client tries its key and options this way (with
        // no ids) before streaming a large CSV, and hears only `ids` when they are right.
        const rest = check(jsonBody.extend({ ids: z.unknown() }), request.body)
        if (rest.ok) await planSync(hub.systems, { ...request.query, ...rest.value })
        throw invalid(parsed.issues)
      }
      const { ids, ...rest } = parsed.value
      options = { ...request.query, ...rest }
      lines = [ids.map((id, i) => ({ line: i + 1, id }))]
    }
    plan ??= await planSync(hub.systems, options)
    try {
      return reply.code(202).send(await enqueueBatch(hub, plan, lines))
    } catch (err) {
      // Nothing of the batch was queued (see enqueueBatch): the client may send it again whole.
      const batch = (err as { batch?: { batchId: string } }).batch
      if (batch && !(err instanceof HubError)) {
        throw badRequest(`the CSV could not be read, so nothing was queued: ${(err as Error).message}`, { batchId: batch.batchId })
      }
      throw err
    }
  })

  fastify.get('/:batchId', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['sync'],
      summary: 'Where a batch stands: counts by state, first failures, finished or not',
      security: [{ adminKey: [] }],
      params: z.object({ batchId: z.uuid('must be a batch id (a UUID)') }),
      response: { 200: batchStatusSchema, ...errorResponses(400, 404, ...adminErrors) }
    }
  }, async (request) => {
    const status = await batchStatus(hub.pool, hub.systems, request.params.batchId)
    if (!status) throw notFound(`no batch ${request.params.batchId}`)
    return status
  })
}

export default sync
