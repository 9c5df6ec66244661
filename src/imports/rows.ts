import type { Flow, SystemConfig } from '../config/systems.ts'
import { cellProblem, leafTypes, targetProblem } from '../mapping/fields.ts'
import { applyMappings, checkRequired, isEmpty, isObject, MappingError, parsePath, passesFilter, setPath } from '../mapping/map.ts'
import { canonicalSchemas } from '../models/index.ts'
import type { DataType } from '../models/index.ts'
import { findFlow } from '../stores/systems.ts'
import { keyValue } from '../pipeline/write-record.ts'
import type { RecordWrite, WriteMode } from '../pipeline/write-record.ts'
import type { ImportOptions } from './store.ts'

// One CSV row into the one write. Without a system the headers are canonical field paths
// (`email_address`, `addresses[0].city`); with one, the row is that system's record: its inbound
// flow maps it, and its `id` column is the external id the link is set to.

/** A row the import reports instead of writing. */
export class RowRefused extends Error {
  field: string
  constructor (field: string, message: string) {
    super(message)
    this.field = field
  }
}

/** Why these headers cannot be imported, or undefined. A problem names the header. */
export function headerProblems (type: DataType, headers: string[], system?: SystemConfig): string[] {
  const problems: string[] = []
  const seen = new Set<string>()
  for (const h of headers) {
    if (seen.has(h)) problems.push(`'${h}' appears twice`)
    seen.add(h)
    // A path no row could be written to ([-1], an index past 9,999): refused here, where its
    // rows would otherwise fail the import's job on every attempt.
    if (h !== '' && h !== 'id') {
      try {
        parsePath(h)
      } catch (err) {
        problems.push((err as Error).message)
      }
    }
  }
  if (system) {
    if (!headers.includes('id')) problems.push(`an 'id' column (the record's id in ${system.id}) is required with system`)
    return problems
  }
  for (const h of headers) {
    if (h === 'id') continue
    const problem = h === '' ? 'an empty header' : targetProblem(canonicalSchemas[type], type, h) ?? cellProblem(canonicalSchemas[type], h)
    if (problem) problems.push(problem)
  }
  return problems
}

/** A cell's text as the value the canonical model holds there. */
function typed (kinds: string[], text: string): unknown {
  if (kinds.includes('string') || kinds.length === 0) return text
  if (kinds.includes('number') && text.trim() !== '' && Number.isFinite(Number(text))) return Number(text)
  if (kinds.includes('boolean') && /^(true|false)$/i.test(text)) return text.toLowerCase() === 'true'
  return text
}

export interface RowWriter { (fields: string[]): Promise<RecordWrite | undefined> }

/**
 * Turns the import's rows into writes: undefined for a row its system's flow filters out. A row
 * may have fewer cells than the header (the missing ones are empty), not more: a cell without a
 * header has no field to go to, and dropping it would lose data silently.
 */
export function rowWriter (type: DataType, headers: string[], options: ImportOptions, system?: SystemConfig): RowWriter {
  const write = cellsWriter(type, headers, options, system)
  return async fields => {
    if (fields.length > headers.length) throw new RowRefused(`column ${headers.length + 1}`, `row has ${fields.length} cells, the header has ${headers.length}`)
    return await write(fields)
  }
}

/**
 * What a row's mapped fields give: a field the row's cells left empty is not given, as an empty
 * cell is not, at any depth. A file without address columns maps to `addresses: []`, and one
 * without a zip column to `addresses[0].zip: null`, either of which would erase what the record
 * has. An emptied list element stays a hole, so the elements after it keep their places.
 */
function given (value: unknown): unknown {
  if (Array.isArray(value)) {
    const out = value.map(given)
    return out.every(v => v === undefined) ? undefined : out
  }
  if (isObject(value)) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      const kept = given(v)
      if (kept !== undefined) out[k] = kept
    }
    return Object.keys(out).length ? out : undefined
  }
  return isEmpty(value) ? undefined : value
}

function cellsWriter (type: DataType, headers: string[], options: ImportOptions, system?: SystemConfig): RowWriter {
  const mode: WriteMode = !options.overrideExisting ? 'keep' : options.updateOnlyEmptyFields ? 'fill' : 'patch'
  const idAt = headers.indexOf('id')
  const base = { type, key: options.key, mode, action: 'import' }
  if (system) {
    const flow = findFlow(system, type, 'inbound') as Flow
    return async fields => {
      const externalId = (fields[idAt] ?? '').trim()
      if (!externalId) throw new RowRefused('id', 'required')
      const source: Record<string, unknown> = {}
      headers.forEach((h, i) => { if (fields[i] !== undefined && fields[i] !== '') setPath(source, h, fields[i]) })
      if (!await passesFilter(flow, source)) return undefined
      let data: Record<string, unknown>
      try {
        data = await applyMappings(flow.mappings, source)
      } catch (err) {
        if (err instanceof MappingError) throw new RowRefused(err.field, err.message)
        throw err
      }
      const missing = checkRequired(flow.required, data)
      if (missing.length) throw new RowRefused(missing[0], 'required after mapping')
      return { ...base, origin: system.id, linked: true, externalId, data: given(data) as Record<string, unknown> ?? {} }
    }
  }
  const kinds = headers.map(h => h === 'id' ? [] : leafTypes(canonicalSchemas[type], h))
  return async fields => {
    // Uploads skip blank rows (routes/imports); chunks stored before they did may hold some.
    if (fields.every(f => f.trim() === '')) throw new RowRefused('', 'an empty row')
    const data: Record<string, unknown> = {}
    let recordId: string | undefined
    headers.forEach((h, i) => {
      const text = fields[i]
      if (text === undefined || text === '') return
      if (i === idAt) recordId = text.trim()
      else setPath(data, h, typed(kinds[i], text))
    })
    if (recordId !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(recordId)) throw new RowRefused('id', 'must be a hub record id (a UUID)')
    const write: RecordWrite = { ...base, origin: 'import', linked: false, recordId, data }
    // A row found by neither an id nor its key would be a new record at every import of the file.
    if (recordId === undefined && keyValue(write) === undefined) throw new RowRefused(options.key, 'required: it matches the row to its record (or give an id)')
    return write
  }
}
