import { pipeline } from 'node:stream'
import multipart from '@fastify/multipart'
import type { MultipartFile } from '@fastify/multipart'
import { CsvError, parse } from 'csv-parse'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { badRequest, conflict, fieldError, HubError, invalid, notFound } from '../../src/errors.ts'
import { adminErrors, bodyErrors, errorResponses, noContent, timestamp } from '../../src/http/schemas.ts'
import { csvRows } from '../../src/http/batches.ts'
import { inTransaction } from '../../src/db/pool.ts'
import type { PoolClient } from '../../src/db/pool.ts'
import { headerProblems } from '../../src/imports/rows.ts'
import { addChunk, CHUNK_ROWS, createImport, deleteImport, getImport, listImports, markQueued, waitingImports } from '../../src/imports/store.ts'
import type { ImportOptions } from '../../src/imports/store.ts'
import { canonicalSchemas, check, dataTypes, keyFields } from '../../src/models/index.ts'
import type { DataType } from '../../src/models/index.ts'
import { textProblem } from '../../src/models/text.ts'
import { insertJobs } from '../../src/pipeline/jobs.ts'
import { IMPORT } from '../../src/queue/queues.ts'
import { targetProblem } from '../../src/mapping/fields.ts'
import { findFlow } from '../../src/stores/systems.ts'

// CSV imports (seed 002). The upload is parsed as it streams in and its rows land in PostgreSQL
// within the request, so once answered 202 the import survives a crash and any worker runs it
// (jobs/import.ts). The file itself is never held whole in memory nor written to a local disk.

/** Seed 002's limits. */
export const MAX_FILE_BYTES = 50 * 1024 * 1024
export const MAX_WAITING = 10
/** A lock number for "queue an import", so two uploads finishing at once cannot both be the 11th. */
const QUEUE_LOCK = 0x1_4d_50_52

const flag = z.enum(['true', 'false']).transform(v => v === 'true')
const fields = z.object({
  type: z.enum(dataTypes),
  delimiter: z.string().length(1, 'must be one character').refine(d => !/[\r\n"]/.test(d), 'cannot be a quote or a line break').default(','),
  overrideExisting: flag.default(false).describe('update records that already exist (otherwise they are left as they are)'),
  updateOnlyEmptyFields: flag.default(false).describe('with overrideExisting: set only the fields that are empty now'),
  key: z.string().optional().describe(`the top-level field that matches existing records (default: ${Object.entries(keyFields).map(([t, f]) => `${f} for ${t}`).join(', ')})`),
  system: z.string().optional().describe("rows are this system's records, mapped by its inbound flow; their 'id' column is their external id")
})

const importView = z.object({
  id: z.string(),
  type: z.enum(dataTypes),
  status: z.enum(['queued', 'processing', 'finished', 'error']),
  total: z.number().describe('data rows in the file'),
  success: z.number().describe('rows written (or already up to date)'),
  unchanged: z.number().describe('of success, the rows that changed nothing: already as given, or an existing record left alone without overrideExisting'),
  errors: z.number().describe('rows reported instead of written'),
  errorDetails: z.array(z.object({ row: z.number().describe("the row's line in the file: the header is line 1 (a row whose quoted cell spans lines: its last)"), field: z.string(), message: z.string() })).describe('the first 100'),
  message: z.string().nullable().describe('why the import stopped, when status is error'),
  options: z.object({ delimiter: z.string(), key: z.string(), system: z.string().optional(), overrideExisting: z.boolean(), updateOnlyEmptyFields: z.boolean() }),
  createdAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable()
})
const idParam = z.object({ id: z.uuid('must be an import id (a UUID)') })

const imports: FastifyPluginAsyncZod = async (fastify) => {
  const { hub } = fastify
  await fastify.register(multipart, { limits: { fileSize: MAX_FILE_BYTES, files: 1, fields: 10, fieldSize: 1024, parts: 12 } })

  const tooMany = () => Object.assign(new HubError(429, 'too_many_imports', `${MAX_WAITING} imports are waiting already: retry once one has started`), { retryAfter: 30 })

  /** The form's fields (which must come before the file) as import options. */
  async function optionsOf (given: Record<string, string>): Promise<{ type: DataType, options: ImportOptions }> {
    for (const name of Object.keys(given)) {
      if (!(name in fields.shape)) throw fieldError(name, `not a field of an import (fields: ${Object.keys(fields.shape).join(', ')}, then file)`)
    }
    const checked = check(fields, given)
    if (!checked.ok) throw invalid(checked.issues)
    const { type, delimiter, overrideExisting, updateOnlyEmptyFields, system } = checked.value
    const key = checked.value.key ?? keyFields[type]
    const keyProblem = /^[a-z_][a-z0-9_]*$/.test(key) ? targetProblem(canonicalSchemas[type], type, key) : `'${key}' is not a top-level field`
    if (keyProblem) throw fieldError('key', keyProblem)
    // Without overrideExisting existing records are left alone: the flag would change nothing.
    if (updateOnlyEmptyFields && !overrideExisting) throw fieldError('updateOnlyEmptyFields', 'needs overrideExisting=true (without it, records that exist are left as they are)')
    if (system !== undefined) {
      const found = await hub.systems.get(system)
      if (!found) throw fieldError('system', `no system ${system} is configured`)
      if (!findFlow(found, type, 'inbound')) throw fieldError('system', `${system} has no enabled inbound flow for ${type}`)
    }
    return { type, options: { delimiter, key, overrideExisting, updateOnlyEmptyFields, ...(system ? { system } : {}) } }
  }

  /** Why a cell cannot be imported: the database's limits, or bytes that were not UTF-8. */
  const cellProblem = (cell: string) => cell.includes('\uFFFD')
    ? 'not UTF-8 text (save the file as UTF-8)'
    : textProblem(cell, 64 * 1024)

  /** Stream the CSV into import_chunks on `tx`; the import's id and row count. */
  async function upload (tx: PoolClient, file: MultipartFile, type: DataType, options: ImportOptions): Promise<{ id: string, total: number }> {
    const system = options.system ? await hub.systems.get(options.system) : undefined
    // A row of blank cells (the `,,,` a spreadsheet leaves after its data, a line of spaces) is
    // no record: skipped, not counted, as an empty line is.
    const rows = parse({ delimiter: options.delimiter, bom: true, relax_column_count: true, max_record_size: 64 * 1024 })
    // The loop below hears a failure (the parser's, or the upload's size limit) through `rows`.
    pipeline(file.file, rows, () => {})
    let id: string | undefined
    let total = 0
    let batch: string[][] = []
    // Each row's line in the file (where it ends: a quoted cell may span lines), which its errors name.
    let lines: number[] = []
    try {
      for await (const read of csvRows(rows, { blank: true })) for (const { record, line } of read) {
        if (!id) {
          const headers = record.map(h => h.trim())
          const unreadable = headers.findIndex(h => cellProblem(h))
          if (unreadable >= 0) throw fieldError('file', `the header, column ${unreadable + 1}: ${cellProblem(headers[unreadable])}`)
          const problems = headerProblems(type, headers, system)
          // One header holding another delimiter: the file is most likely split by that one.
          const other = headers.length === 1 ? /[;\t|]/.exec(headers[0])?.[0] : undefined
          if (other) problems.push(`the header row has one column: is the file's delimiter ${JSON.stringify(other)}? (send delimiter=${other === '\t' ? '<tab>' : other})`)
          if (problems.length) throw invalid(problems.map(message => ({ path: 'file', message })))
          id = await createImport(tx, type, options, headers)
          continue
        }
        for (const [i, cell] of record.entries()) {
          const problem = cellProblem(cell)
          if (problem) throw fieldError('file', `row ${line}, column ${i + 1}: ${problem}`)
        }
        batch.push(record)
        lines.push(line)
        total++
        if (batch.length === CHUNK_ROWS) {
          await addChunk(tx, id, total - batch.length + 1, batch, lines)
          batch = []
          lines = []
        }
      }
    } catch (err) {
      // csv-parse's own errors (a stray or unclosed quote, a record over the size limit) are the
      // file's fault; not all their codes start with CSV_ (INVALID_OPENING_QUOTE).
      if (err instanceof CsvError) throw badRequest(`file: not a CSV this hub can read: ${err.message}`)
      throw err
    }
    if (file.file.truncated) throw new HubError(413, 'payload_too_large', `file: over ${MAX_FILE_BYTES / 1024 / 1024} MB`)
    if (!id) throw fieldError('file', 'empty (a header row and at least one row are needed)')
    if (total === 0) throw fieldError('file', 'no rows after the header')
    if (batch.length) await addChunk(tx, id, total - batch.length + 1, batch, lines)
    return { id, total }
  }

  /** Make the uploaded import visible and queue it, unless 10 are waiting already. */
  async function enqueue (tx: PoolClient, { id, total }: { id: string, total: number }): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [QUEUE_LOCK])
    if (await waitingImports(tx) >= MAX_WAITING) throw tooMany()
    await markQueued(tx, id, total)
    await insertJobs(hub.boss, IMPORT, [{ data: { importId: id } }], tx)
  }

  fastify.post('/', {
    preHandler: fastify.requireScope('write'),
    bodyLimit: MAX_FILE_BYTES + 1024 * 1024,
    schema: {
      tags: ['imports'],
      summary: 'Upload a CSV of records to import',
      description: 'multipart/form-data: the fields, then `file` (UTF-8 CSV with a header row, at most 50 MB). Without `system` the headers are ' +
        "canonical field paths (`email_address`, `addresses[0].city`) and an optional `id` column holds hub ids; with `system` the rows are that system's " +
        "records, mapped by its inbound flow, and an `id` column (required) their external ids. At most 10 imports wait at a time. Follow it with GET /v1/imports/{id}. " +
        'A request without `file` has its fields checked all the same (a client can try its key and fields before a large upload): when they are right it is a 400 naming only `file`, and nothing is stored.',
      security: [{ adminKey: [] }],
      documentedBody: {
        'multipart/form-data': fields.extend({ file: z.string().describe('the CSV file') })
      },
      response: {
        202: z.object({ id: z.string(), total: z.number().describe('data rows in the file') }),
        ...errorResponses(...bodyErrors, 429, ...adminErrors)
      }
    }
  }, async (request, reply) => {
    if (!request.isMultipart()) throw new HubError(415, 'unsupported_media_type', 'send multipart/form-data with the fields and a file part')
    // Seed 002's limit, checked before reading the file (and again, exactly, before queueing).
    if (await waitingImports(hub.pool) >= MAX_WAITING) throw tooMany()
    const given: Record<string, string> = {}
    try {
      // One transaction for the whole body: nothing of it is kept unless all of it is right.
      const receipt = await inTransaction(hub.pool, async tx => {
        let receipt: { id: string, total: number } | undefined
        for await (const part of request.parts()) {
          if (part.type === 'field') {
            if (receipt) throw fieldError(part.fieldname, 'must come before the file part (after it, it would be ignored)')
            given[part.fieldname] = String(part.value)
            continue
          }
          if (part.fieldname !== 'file') throw fieldError(part.fieldname, "unexpected file part (the CSV goes in 'file')")
          // A form that puts the file first sends its fields too late to be read.
          if (given.type === undefined) throw fieldError('type', 'required, before the file part (fields after it are not read)')
          const { type, options } = await optionsOf(given)
          receipt = await upload(tx, part, type, options)
        }
        // Fields without a file are checked all the same: a client tries its key and fields
        // this way before sending a large file, and hears only `file` missing when they are right.
        if (!receipt) {
          await optionsOf(given)
          throw fieldError('file', 'required (a CSV file part after the fields)')
        }
        await enqueue(tx, receipt)
        return receipt
      })
      return reply.code(202).send(receipt)
    } catch (err) {
      const e = err as { statusCode?: number, message?: string, code?: string }
      if (e.code === 'FST_FILES_LIMIT') throw fieldError('file', 'only one file part (one CSV per import)')
      // The multipart parser's own complaints (no boundary, a body cut short) carry no status:
      // they are the client's malformed body, not the hub's failure.
      if (!(err instanceof HubError) && e.statusCode === undefined && /multipart|boundary/i.test(e.message ?? '')) {
        throw badRequest(`the multipart body could not be read: ${e.message}`)
      }
      throw err
    }
  })

  fastify.get('/', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['imports'],
      summary: 'Imports, newest first',
      security: [{ adminKey: [] }],
      querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
      response: { 200: z.object({ imports: z.array(importView) }), ...errorResponses(400, ...adminErrors) }
    }
  }, async (request) => ({ imports: await listImports(hub.pool, request.query.limit) }))

  fastify.get('/:id', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['imports'],
      summary: "An import's status and counts",
      security: [{ adminKey: [] }],
      params: idParam,
      response: { 200: importView, ...errorResponses(400, 404, ...adminErrors) }
    }
  }, async (request) => {
    const found = await getImport(hub.pool, request.params.id)
    if (!found) throw notFound(`no import ${request.params.id}`)
    return found
  })

  fastify.delete('/:id', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['imports'],
      summary: 'Delete a finished or failed import (its records stay)',
      security: [{ adminKey: [] }],
      params: idParam,
      response: { 204: noContent('deleted'), ...errorResponses(400, 404, 409, ...adminErrors) }
    }
  }, async (request, reply) => {
    const outcome = await deleteImport(hub.pool, request.params.id)
    if (!outcome) throw notFound(`no import ${request.params.id}`)
    if (outcome !== 'deleted') throw conflict(`import ${request.params.id} is ${outcome}: only a finished or failed import can be deleted`)
    return reply.code(204).send()
  })
}

export default imports
