import { inTransaction } from '../db/pool.ts'
import type { Pool } from '../db/pool.ts'
import type { Queryable } from '../db/queryable.ts'
import { validateCanonical } from '../models/index.ts'
import type { DataType, Issue } from '../models/index.ts'
import { addHistory } from '../stores/history.ts'
import { addLink, contentHash, findByKey, findLink, getRecord, insertRecord, LinkRace, removeLink, replaceData } from '../stores/records.ts'
import type { CanonicalRecord, WriteOutcome } from '../stores/records.ts'
import type { Trace } from '../trace.ts'
import type { PipelineContext } from './context.ts'
import { PermanentError } from './failures.ts'
import { fanOut } from './fan-out.ts'

/**
 * How incoming fields meet a record that exists:
 * - merge: the fields given replace the record's, the rest are kept (a source that knows only
 *   part of a record, or an echo of our own write, never erases the rest): inbound jobs;
 * - replace: the record becomes exactly what was given (seed 001's create or replace);
 * - fill: only fields empty now are set (seed 002's updateOnlyEmptyFields);
 * - keep: an existing record is left as it is (an import without overrideExisting).
 */
export type WriteMode = 'merge' | 'replace' | 'fill' | 'keep'

export interface RecordWrite {
  type: DataType
  /** A configured system, or a door ('import', 'api') when the data is no system's. History
   *  names it; the fan-out never sends the change back to it. */
  origin: string
  /** With `linked`, the origin's id for the record: its link finds the record, and is set. */
  externalId?: string
  /** True when `origin` is a system whose links count (false for a door). */
  linked: boolean
  /** The hub id: takes precedence over externalId, whose link is then moved to this record. */
  recordId?: string
  /** A top-level field whose value finds an existing record (imports' `key`). */
  key?: string
  data: Record<string, unknown>
  mode: WriteMode
  action?: string
  jobId?: string
  debug?: boolean
  batchId?: string
  trace?: Trace
}

export interface Written { recordId: string, outcome: WriteOutcome, outbound: string[] }

/** The record failed the canonical schema; `issues` name the fields. */
export class InvalidRecord extends PermanentError {
  issues: Issue[]
  constructor (type: DataType, issues: Issue[]) {
    super(`invalid ${type}: ${issues[0].path || '(record)'}: ${issues[0].message}`)
    this.issues = issues
  }
}

/** A write that names something that does not exist or belongs elsewhere (a 4xx for a door). */
export class WriteRefused extends PermanentError {
  field: string
  constructor (field: string, message: string) {
    super(message)
    this.field = field
  }
}

const empty = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0)

function combine (mode: WriteMode, current: Record<string, unknown>, given: Record<string, unknown>): Record<string, unknown> {
  if (mode === 'keep') return current
  if (mode === 'replace') {
    // The hub's own customer number is not a source's field: a replace keeps it.
    return current.customer_number != null && given.customer_number == null ? { ...given, customer_number: current.customer_number } : given
  }
  if (mode === 'merge') return { ...current, ...given }
  const out = { ...current }
  for (const [k, v] of Object.entries(given)) if (empty(out[k])) out[k] = v
  return out
}

function validated (type: DataType, data: Record<string, unknown>): Record<string, unknown> {
  const checked = validateCanonical(type, data)
  if (!checked.ok) throw new InvalidRecord(type, checked.issues)
  return checked.value as Record<string, unknown>
}

async function locate (db: Queryable, w: RecordWrite): Promise<CanonicalRecord | undefined> {
  if (w.recordId) {
    const record = await getRecord(db, w.recordId, true)
    if (!record || record.type !== w.type) throw new WriteRefused('id', `no ${w.type} ${w.recordId}`)
    return record
  }
  if (w.linked && w.externalId) {
    const id = await findLink(db, w.origin, w.type, w.externalId, true)
    if (id) return await getRecord(db, id, true)
  }
  if (w.key) {
    const value = w.data[w.key]
    if (typeof value === 'string' || typeof value === 'number') return await findByKey(db, w.type, w.key, String(value))
  }
  return undefined
}

/** Point the origin's link for this record at `externalId` (the id given with a hub id wins). */
async function setLink (db: Queryable, w: RecordWrite, recordId: string): Promise<void> {
  if (!w.linked || !w.externalId) return
  const linkedTo = await findLink(db, w.origin, w.type, w.externalId)
  if (linkedTo === recordId) return
  if (linkedTo) throw new WriteRefused('external_id', `${w.origin} ${w.type} ${w.externalId} is already linked to another record (${linkedTo})`)
  await removeLink(db, w.origin, w.type, recordId)
  if (!await addLink(db, w.origin, w.type, w.externalId, recordId)) throw new LinkRace(`${w.origin} ${w.type} ${w.externalId} was linked concurrently`)
}

/**
 * The one write of a canonical record, whatever the door (inbound job, import, sync endpoint):
 * find it (hub id, else the origin's link, else the key field), combine, validate, and store it
 * with its content hash; unchanged content stops there (no outbound work, which also ends echo
 * loops). Otherwise its history row and one outbound job per subscribed system except the origin
 * are written on `db`, the caller's transaction, so the record and its fan-out commit together.
 * Throws InvalidRecord or WriteRefused (permanent), or LinkRace (run the transaction again).
 */
export async function writeRecord (ctx: Pick<PipelineContext, 'boss' | 'systems'>, db: Queryable, w: RecordWrite): Promise<Written> {
  const current = await locate(db, w)
  let recordId: string
  let outcome: WriteOutcome
  if (current) {
    recordId = current.id
    const data = validated(w.type, combine(w.mode, current.data, w.data))
    const hash = contentHash(data)
    await setLink(db, w, recordId)
    if (hash === current.hash && !current.deletedAt) {
      outcome = 'unchanged'
    } else {
      await replaceData(db, recordId, data, hash)
      outcome = 'updated'
    }
  } else {
    recordId = await insertRecord(db, w.type, w.data, data => validated(w.type, data), w.linked ? { systemId: w.origin, externalId: w.externalId } : undefined)
    outcome = 'created'
  }
  await addHistory(db, { recordId, type: w.type, systemId: w.origin, direction: 'inbound', action: w.action ?? (outcome === 'created' ? 'create' : 'update'), outcome, externalId: w.externalId, jobId: w.jobId })
  w.trace?.add('store', { recordId, outcome })
  const outbound = outcome === 'unchanged'
    ? []
    : await fanOut(ctx, db, { recordId, type: w.type, action: outcome === 'created' ? 'create' : 'update', origin: w.origin, debug: w.debug, batchId: w.batchId })
  return { recordId, outcome, outbound }
}

/** writeRecord in a transaction of its own, run again once if it lost a link race. */
export async function writeRecordAlone (ctx: Pick<PipelineContext, 'boss' | 'systems'> & { pool: Pool }, w: RecordWrite): Promise<Written> {
  const write = () => inTransaction(ctx.pool, tx => writeRecord(ctx, tx, w))
  try {
    return await write()
  } catch (err) {
    if (!(err instanceof LinkRace)) throw err
    return await write()
  }
}
