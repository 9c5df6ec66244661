import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { conflict, fieldError, invalid, notFound } from '../../src/errors.ts'
import { adminErrors, bodyErrors, errorResponses, timestamp } from '../../src/http/schemas.ts'
import { unknownFields } from '../../src/mapping/fields.ts'
import { canonicalSchemas, check, dataTypes, keyFields } from '../../src/models/index.ts'
import type { DataType, Issue } from '../../src/models/index.ts'
import { recordId, storableText } from '../../src/models/text.ts'
import { InvalidRecord, writeRecordsAlone, WriteRefused } from '../../src/pipeline/write-record.ts'
import type { RecordWrite, Written } from '../../src/pipeline/write-record.ts'
import { listRecords } from '../../src/stores/records.ts'

// The sync endpoints (seed 001): systems push canonical records, create or replace. A record is
// found by `id` (the hub id) first, else by `external_id` in `system`, else by its key field;
// the hub's one write (src/pipeline/write-record.ts) stores it and fans it out to every system
// but `system`.

const API = 'api'
const MAX_BATCH = 1_000

const typeParam = z.object({ type: z.enum(dataTypes) })
const systemField = storableText(63).optional().describe('the system the record comes from: external_id is its id, and the change is not sent back to it')
const envelope = z.object({
  id: z.uuid('must be a hub record id (a UUID)').optional().describe('the hub id: takes precedence over external_id'),
  // A union of pipes documents as `anyOf: []` (fastify-type-provider-zod drops the branches,
  // which are refs when it looks): the union is of plain types, the pipe after it.
  external_id: z.union([z.number(), z.string()]).transform(String).pipe(recordId()).optional().describe("the record's id in `system`"),
  system: systemField
})
const item = envelope.catchall(z.unknown()).describe('the canonical record\'s fields (see the data type\'s model) with `id` and/or `external_id`; the record is replaced by these fields, not merged')
const query = z.strictObject({ system: systemField })
const status = z.enum(['created', 'replaced', 'unchanged'])
const result = z.object({ status, id: z.string(), external_id: z.string().nullable(), system: z.string().nullable() })
const itemError = z.object({ field: z.string(), message: z.string() })
const batchResult = z.object({
  index: z.number(),
  status: z.union([status, z.literal('error')]),
  id: z.string().nullable(),
  external_id: z.string().nullable(),
  errors: z.array(itemError)
})

class ItemRefused extends Error {
  errors: Issue[]
  statusCode: number
  constructor (statusCode: number, errors: Issue[]) {
    super(errors[0].message)
    this.statusCode = statusCode
    this.errors = errors
  }
}

const records: FastifyPluginAsyncZod = async (fastify) => {
  const { hub } = fastify

  /** Why `system` cannot be named here, or undefined when it is configured. */
  const systemProblem = async (system: string) => await hub.systems.get(system) ? undefined : `no system ${system} is configured`

  /** What one item asks of the write, or ItemRefused naming its fields. */
  async function writeOf (type: DataType, raw: unknown, defaultSystem: string | undefined): Promise<RecordWrite> {
    const parsed = check(envelope, raw)
    if (!parsed.ok) throw new ItemRefused(400, parsed.issues)
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ItemRefused(400, [{ path: '', message: 'must be an object' }])
    const { id, external_id: externalId, system = defaultSystem } = parsed.value
    const { id: _id, external_id: _ext, system: _sys, ...data } = raw as Record<string, unknown>
    // The model strips a field it does not know, and a replace removes what the item lacks: a
    // misspelt field would silently delete the real one.
    const unknown = unknownFields(canonicalSchemas[type], type, data)
    if (unknown.length) throw new ItemRefused(400, unknown)
    if (externalId !== undefined && !system) throw new ItemRefused(400, [{ path: 'system', message: 'required with external_id (in the body or the query)' }])
    const problem = system && await systemProblem(system)
    if (problem) throw new ItemRefused(400, [{ path: 'system', message: problem }])
    // With neither id, the key field finds the record, as an import's rows do: sent twice, the same
    // record is one record, not a second one that every destination then refuses as a duplicate.
    const key = id === undefined && externalId === undefined ? keyFields[type] : undefined
    return { type, origin: system ?? API, linked: Boolean(system), externalId, recordId: id, key, data, mode: 'replace' }
  }

  /** An item's written result, or ItemRefused when the item (not the request) is at fault. */
  function resultOf (w: RecordWrite, result: Written | Error) {
    if (result instanceof InvalidRecord) throw new ItemRefused(400, result.issues)
    if (result instanceof WriteRefused) throw new ItemRefused(result.field === 'id' ? 404 : 409, [{ path: result.field, message: result.message }])
    if (result instanceof Error) throw result
    // A moved link is a change of the record's, though its content (and so its fan-out) is not.
    const status = result.outcome === 'created' ? 'created' as const : result.outcome === 'updated' || result.relinked ? 'replaced' as const : 'unchanged' as const
    return { status, id: result.recordId, external_id: w.externalId ?? null, system: w.linked ? w.origin : null }
  }

  fastify.post('/:type', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['records'],
      summary: 'Create or replace one record',
      description: 'Found by `id` (the hub id) first, else by `external_id` in `system`; an `external_id` not seen before creates a record and its link. ' +
        'With neither, the record whose key field (customer: `email_address`, product: `sku`, order: `number`) has the same value, else a new one. ' +
        'With both, the record found by `id` gets its link in `system` set to `external_id`. The properties are **wholly replaced** by the body ' +
        '(unlike an inbound job, which merges the fields a source maps). A change fans out to every subscribed system except `system`.',
      security: [{ adminKey: [] }],
      params: typeParam,
      querystring: query,
      body: item,
      response: { 200: result, ...errorResponses(...bodyErrors, 404, 409, ...adminErrors) }
    }
  }, async (request) => {
    const { type } = request.params
    try {
      const w = await writeOf(type, request.body, request.query.system)
      return resultOf(w, (await writeRecordsAlone(hub, [w]))[0])
    } catch (err) {
      if (!(err instanceof ItemRefused)) throw err
      const first = err.errors[0]
      if (err.statusCode === 404) throw notFound(first.message)
      if (err.statusCode === 409) throw conflict(first.message, err.errors)
      throw invalid(err.errors)
    }
  })

  fastify.post('/:type/batch', {
    preHandler: fastify.requireScope('write'),
    bodyLimit: 16 * 1024 * 1024,
    schema: {
      tags: ['records'],
      summary: `Create or replace up to ${MAX_BATCH} records, with partial success`,
      description: 'Each item as for POST /v1/records/{type}. One result per item, in order: an invalid item is reported with its `errors` ' +
        'and never blocks the valid ones.',
      security: [{ adminKey: [] }],
      params: typeParam,
      querystring: query,
      body: z.array(z.unknown().describe('an item as for POST /v1/records/{type}')).min(1).max(MAX_BATCH),
      response: { 200: z.object({ results: z.array(batchResult) }), ...errorResponses(...bodyErrors, ...adminErrors) }
    }
  }, async (request) => {
    const { type } = request.params
    // One item at a time: the first looks the system up, the rest find it cached.
    const writes: (RecordWrite | ItemRefused)[] = []
    for (const raw of request.body) {
      writes.push(await writeOf(type, raw, request.query.system).catch((err: unknown) => {
        if (err instanceof ItemRefused) return err
        throw err
      }))
    }
    // One transaction for the valid items (writeRecords: a few statements for the lot); an
    // item's own fault is answered in its place and never aborts the others.
    const valid = writes.filter((w): w is RecordWrite => !(w instanceof ItemRefused))
    const position = new Map(valid.map((w, k) => [w, k]))
    const written = await writeRecordsAlone(hub, valid)
    const results: z.infer<typeof batchResult>[] = writes.map((w, index) => {
      const refused = (err: ItemRefused, id: string | null, externalId: string | null) =>
        ({ index, status: 'error' as const, id, external_id: externalId, errors: err.errors.map(e => ({ field: e.path, message: e.message })) })
      // Refused by writeOf (a bad id, say): still echo the external_id it sent, when that is valid.
      if (w instanceof ItemRefused) return refused(w, null, envelope.shape.external_id.safeParse((request.body[index] as { external_id?: unknown } | null)?.external_id).data ?? null)
      try {
        const r = resultOf(w, written[position.get(w)!])
        return { index, status: r.status, id: r.id, external_id: r.external_id, errors: [] }
      } catch (err) {
        if (!(err instanceof ItemRefused)) throw err
        return refused(err, w.recordId ?? null, w.externalId ?? null)
      }
    })
    return { results }
  })

  fastify.get('/:type', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['records'],
      summary: 'List records, oldest change first, with cursor paging',
      description: 'Ordered by updatedAt then id. Follow `nextCursor` until it is null. `q` matches the type\'s key field ' +
        `(${Object.entries(keyFields).map(([t, f]) => `${t}: ${f}`).join(', ')}) by prefix, case-insensitively.`,
      security: [{ adminKey: [] }],
      params: typeParam,
      querystring: z.strictObject({
        cursor: storableText(200).optional().describe('nextCursor of the previous page'),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        updatedSince: z.iso.datetime({ offset: true }).optional().describe('only records changed at or after this time'),
        system: storableText(63).optional().describe('only records linked in this system (or, with linked=false, not linked there)'),
        linked: z.stringbool().default(true),
        q: storableText(255).optional().describe('prefix of the key field'),
        includeDeleted: z.stringbool().default(false)
      }),
      response: {
        200: z.object({
          records: z.array(z.object({
            id: z.string(),
            type: z.enum(dataTypes),
            data: z.record(z.string(), z.unknown()),
            version: z.number(),
            createdAt: timestamp,
            updatedAt: timestamp,
            deletedAt: timestamp.nullable(),
            links: z.array(z.object({ systemId: z.string(), externalId: z.string() }))
          })),
          nextCursor: z.string().nullable()
        }),
        ...errorResponses(400, ...adminErrors)
      }
    }
  }, async (request) => {
    const { type } = request.params
    const { cursor, ...filters } = request.query
    // As for a write: an unknown system is the client's mistake, not an empty list.
    const problem = filters.system && await systemProblem(filters.system)
    if (problem) throw fieldError('querystring.system', problem)
    if (!filters.linked && !filters.system) throw fieldError('querystring.linked', 'needs system (linked=false lists the records not linked there)')
    let after: { updatedAt: string, id: string } | undefined
    if (cursor) {
      const [updatedAt, id] = Buffer.from(cursor, 'base64url').toString().split('|')
      if (!updatedAt || !id || Number.isNaN(Date.parse(updatedAt)) || !z.uuid().safeParse(id).success) throw fieldError('querystring.cursor', 'not a cursor this hub gave')
      after = { updatedAt, id }
    }
    const page = await listRecords(hub.pool, type, { ...filters, after, keyField: keyFields[type] })
    const last = page.length === filters.limit ? page[page.length - 1] : undefined
    return { records: page, nextCursor: last ? Buffer.from(`${last.updatedAt}|${last.id}`).toString('base64url') : null }
  })
}

export default records
