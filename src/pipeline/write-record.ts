import type { Queryable } from '../db/queryable.ts'
import { isEmpty, isObject } from '../mapping/map.ts'
import { foldKey, identifiesCustomer, UNNAMED_CUSTOMER, validateCanonical } from '../models/index.ts'
import type { DataType, Issue } from '../models/index.ts'
import { newId } from '../ids.ts'
import { batcher } from '../db/batcher.ts'
import { addHistories } from '../stores/history.ts'
import { addLink, addLinks, content, customerNumberOwners, dropRecords, findLink, insertRecords, LinkRace, lockByKey, lockKeys, lockLinked, lockRecords, nextCustomerNumbers, removeLink, updateRecords } from '../stores/records.ts'
import type { CanonicalRecord, RecordRow, WriteOutcome } from '../stores/records.ts'
import type { Trace } from '../trace.ts'
import type { PipelineContext } from './context.ts'
import { PermanentError } from './failures.ts'
import { fanOutAll } from './fan-out.ts'
import type { FanOutContext } from './fan-out.ts'
import { inClaimingTransaction } from './runner.ts'

/**
 * How incoming fields meet a record that exists:
 * - merge: the fields given replace the record's, the rest are kept (a source that knows only
 *   part of a record, or an echo of our own write, never erases the rest): inbound jobs, whose
 *   lists (a source's addresses) are whole;
 * - patch: as merge, at every depth: objects key by key, lists element by element, so an
 *   import's `addresses[0].city` changes that city and keeps the address's street (imports
 *   with overrideExisting);
 * - replace: the record becomes exactly what was given (seed 001's create or replace);
 * - fill: only fields empty now are set, at every depth as patch (seed 002's
 *   updateOnlyEmptyFields);
 * - keep: an existing record is left as it is (an import without overrideExisting).
 */
export type WriteMode = 'merge' | 'patch' | 'replace' | 'fill' | 'keep'

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

export interface Written {
  recordId: string
  outcome: WriteOutcome
  outbound: string[]
  /** The origin's link was set or moved to this record (the content may still be unchanged). */
  relinked?: boolean
}

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

/** `given` laid over `current` at every depth (patch; with onlyEmpty, fill): a value given
 *  replaces one that is there, or with onlyEmpty only one that is empty. */
function overlay (current: unknown, given: unknown, onlyEmpty: boolean): unknown {
  if (given === undefined) return current
  if (isObject(current) && isObject(given)) {
    const out = { ...current }
    for (const [k, v] of Object.entries(given)) out[k] = overlay(current[k], v, onlyEmpty)
    return out
  }
  if (Array.isArray(current) && Array.isArray(given)) {
    const out = [...current]
    given.forEach((v, i) => { out[i] = overlay(current[i], v, onlyEmpty) })
    return out
  }
  return onlyEmpty && !isEmpty(current) ? current : given
}

function combine (mode: WriteMode, current: Record<string, unknown>, given: Record<string, unknown>): Record<string, unknown> {
  if (mode === 'keep') return current
  let out: Record<string, unknown>
  if (mode === 'replace') out = { ...given }
  else if (mode === 'merge') out = { ...current, ...given }
  else out = overlay(current, given, mode === 'fill') as Record<string, unknown>
  // The hub's own customer number is not a source's field: once a record has one, every write
  // keeps it, even over a number given (which could be another record's).
  if (current.customer_number != null) out.customer_number = current.customer_number
  return out
}

function validated (type: DataType, data: Record<string, unknown>): Record<string, unknown> {
  const checked = validateCanonical(type, data)
  if (!checked.ok) throw new InvalidRecord(type, checked.issues)
  return checked.value as Record<string, unknown>
}

type Result = Written | PermanentError

/** The customer number a customer write gives, if any, as the model stores it (trimmed); a new record takes it (see combine). */
function givenNumber (w: RecordWrite): string | undefined {
  const given = w.type === 'customer' ? w.data.customer_number : undefined
  const number = typeof given === 'string' || typeof given === 'number' ? String(given).trim() : ''
  return number === '' ? undefined : number
}

/** What finds the record a write targets: two writes sharing one go in order, never together. */
export function targets (w: RecordWrite): string[] {
  const keys: string[] = []
  if (w.recordId) keys.push(`id\n${w.recordId}`)
  if (w.linked && w.externalId) keys.push(`link\n${w.origin}\n${w.type}\n${w.externalId}`)
  const value = keyValue(w)
  if (value !== undefined) keys.push(`key\n${w.type}\n${w.key}\n${value}`)
  return keys
}

/** The value of a write's key field that can find its record, if it has one, as it is matched (foldKey). */
export const keyValue = (w: Pick<RecordWrite, 'key' | 'data'>) => {
  const value = w.key ? w.data[w.key] : undefined
  return typeof value === 'string' || typeof value === 'number' ? foldKey(w.key!, String(value)) : undefined
}

/** The records the writes target (hub id, else the origin's link, else the key field), locked. */
async function locate (db: Queryable, ws: RecordWrite[]): Promise<Array<{ record?: CanonicalRecord, viaLink: boolean } | WriteRefused>> {
  const byId = await lockRecords(db, ws.flatMap(w => w.recordId ? [w.recordId] : []))
  const linkKeyed = ws.map((w, i) => ({ w, i })).filter(({ w }) => !w.recordId && w.linked && w.externalId)
  const linked = await lockLinked(db, linkKeyed.map(({ w }) => ({ systemId: w.origin, type: w.type, externalId: w.externalId! })))
  const viaLink = new Map(linkKeyed.flatMap(({ i }, n) => linked.has(n) ? [[i, linked.get(n)!]] : []))
  // Key lookups, one statement per (type, field), for the writes nothing else found.
  const byKey = new Map<string, Map<string, CanonicalRecord>>()
  const keyed = ws.filter((w, i) => !w.recordId && !viaLink.has(i) && keyValue(w) !== undefined)
  for (const group of Map.groupBy(keyed, w => `${w.type}\n${w.key}`).values()) {
    const { type, key } = group[0]
    byKey.set(`${type}\n${key}`, await lockByKey(db, type, key!, group.map(w => keyValue(w)!)))
  }
  return ws.map((w, i) => {
    if (w.recordId) {
      const record = byId.get(w.recordId)
      return record && record.type === w.type ? { record, viaLink: false } : new WriteRefused('id', `no ${w.type} ${w.recordId}`)
    }
    if (viaLink.has(i)) return { record: viaLink.get(i), viaLink: true }
    const value = keyValue(w)
    return { record: value === undefined ? undefined : byKey.get(`${w.type}\n${w.key}`)?.get(value), viaLink: false }
  })
}

/** Point the origin's link for this record at `externalId` (the id given with a hub id wins); true when it changed. */
async function setLink (db: Queryable, w: RecordWrite, recordId: string): Promise<boolean> {
  if (!w.linked || !w.externalId) return false
  const linkedTo = await findLink(db, w.origin, w.type, w.externalId)
  if (linkedTo === recordId) return false
  if (linkedTo) throw new WriteRefused('external_id', `${w.origin} ${w.type} ${w.externalId} is already linked to another record (${linkedTo})`)
  await removeLink(db, w.origin, w.type, recordId)
  if (!await addLink(db, w.origin, w.type, w.externalId, recordId)) throw new LinkRace(`${w.origin} ${w.type} ${w.externalId} was linked concurrently`)
  return true
}

/**
 * The one write of canonical records, whatever the door (inbound jobs, imports, sync endpoints):
 * find each (hub id, else the origin's link, else the key field), combine, validate, and store
 * it with its content hash; unchanged content stops there (no outbound work, which also ends
 * echo loops). Otherwise its history row and one outbound job per subscribed system except the
 * origin are written on `db`, the caller's transaction, so records and fan-out commit together.
 * Each kind of statement is sent once for all the writes (a few round trips for hundreds of
 * records); writes to one record go in order, in rounds. A write refused for its own data
 * (InvalidRecord, WriteRefused) is answered as that error, in its place, and the others go on.
 * Throws LinkRace (run the transaction again) when a link it moves was taken meanwhile.
 */
export async function writeRecords (ctx: FanOutContext, db: Queryable, ws: RecordWrite[]): Promise<Result[]> {
  const results: Result[] = new Array(ws.length)
  // Key values, and customer numbers given (two new customers must not both take one), are
  // each written by one transaction at a time.
  await lockKeys(db, ws.flatMap(w => {
    const value = keyValue(w)
    const number = givenNumber(w)
    return [...value === undefined ? [] : [`${w.type}.${w.key}=${value}`], ...number === undefined ? [] : [`customer.customer_number=${number}`]]
  }))
  // Rounds: a write goes after every earlier write that targets the same record.
  const last = new Map<string, number>()
  const rounds: number[][] = []
  ws.forEach((w, i) => {
    const keys = targets(w)
    const round = Math.max(-1, ...keys.map(k => last.get(k) ?? -1)) + 1
    for (const k of keys) last.set(k, round)
    ;(rounds[round] ??= []).push(i)
  })
  for (let r = 0; r < rounds.length; r++) {
    // Writes that must wait go in a round of their own next: a new record whose link another
    // writer took first (by then it finds that link: ON CONFLICT waited for the other's commit),
    // or a second write that found the same record by another key (an id and a link).
    const later = await writeRound(ctx, db, rounds[r].map(i => ws[i]), rounds[r].map(i => (result: Result) => { results[i] = result }))
    if (later.length) rounds.splice(r + 1, 0, later.map(n => rounds[r][n]))
  }
  return results
}

/** One round of writeRecords (no two writes share a target); answers the positions to write again in a later round. */
async function writeRound (ctx: FanOutContext, db: Queryable, ws: RecordWrite[], answer: Array<(r: Result) => void>): Promise<number[]> {
  const found = await locate(db, ws)
  const updates: RecordRow[] = []
  const inserts: Array<{ n: number, w: RecordWrite }> = []
  const stored: Array<{ n: number, recordId: string, outcome: WriteOutcome, relinked?: boolean }> = []
  const later: number[] = []
  const taken = new Set<string>()
  for (const [n, w] of ws.entries()) {
    const f = found[n]
    if (f instanceof WriteRefused) { answer[n](f); continue }
    if (!f.record) { inserts.push({ n, w }); continue }
    if (taken.has(f.record.id)) { later.push(n); continue }
    taken.add(f.record.id)
    try {
      const current = f.record
      const data = validated(w.type, combine(w.mode, current.data, w.data))
      const { json, hash } = content(data)
      const relinked = !f.viaLink && await setLink(db, w, current.id)
      const unchanged = hash === current.hash && !current.deletedAt
      if (!unchanged) updates.push({ id: current.id, json, hash })
      stored.push({ n, recordId: current.id, outcome: unchanged ? 'unchanged' : 'updated', relinked })
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err
      answer[n](err)
    }
  }
  await updateRecords(db, updates)

  // New records: the hub's customer numbers first, so validation sees the record as stored. A
  // number would make any customer valid: one whose data says nothing of who it is (a mapping
  // that matched nothing) is refused before it gets one.
  // A blank number given counts as none; one of a wrong type is left for validation to name.
  const numbered = (w: RecordWrite) => w.type === 'customer' && givenNumber(w) === undefined && (w.data.customer_number == null || typeof w.data.customer_number === 'string')
  const named = inserts.filter(({ n, w }) => {
    if (!numbered(w) || identifiesCustomer(w.data)) return true
    answer[n](new InvalidRecord(w.type, [{ path: '', message: UNNAMED_CUSTOMER }]))
    return false
  })
  const numbers = await nextCustomerNumbers(db, named.filter(({ w }) => numbered(w)).length)
  // A number given with a new customer is refused when another customer has it.
  const owners = await customerNumberOwners(db, named.flatMap(({ w }) => givenNumber(w) ?? []))
  const rows: Array<RecordRow & { type: DataType, n: number, w: RecordWrite }> = []
  for (const { n, w } of named) {
    const given = numbered(w) ? { ...w.data, customer_number: numbers.shift() } : w.data
    try {
      const number = givenNumber(w)
      const owner = number === undefined ? undefined : owners.get(number)
      if (owner) throw new WriteRefused('customer_number', `customer number ${number} is already customer ${owner}'s`)
      const row = { id: newId(), type: w.type, ...content(validated(w.type, given)), n, w }
      rows.push(row)
      if (number !== undefined) owners.set(number, row.id)
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err
      answer[n](err)
    }
  }
  await insertRecords(db, rows)
  const linking = rows.filter(r => r.w.linked && r.w.externalId)
  const added = await addLinks(db, linking.map(r => ({ systemId: r.w.origin, type: r.type, externalId: r.w.externalId!, recordId: r.id })))
  const lostIds = new Set(linking.filter((_, k) => !added[k]).map(r => r.id))
  await dropRecords(db, [...lostIds])
  for (const r of rows) if (!lostIds.has(r.id)) stored.push({ n: r.n, recordId: r.id, outcome: 'created' })

  stored.sort((a, b) => a.n - b.n)
  await addHistories(db, stored.map(({ n, recordId, outcome }) => {
    const w = ws[n]
    return { recordId, type: w.type, systemId: w.origin, direction: 'inbound' as const, action: w.action ?? (outcome === 'created' ? 'create' : 'update'), outcome, externalId: w.externalId, jobId: w.jobId }
  }))
  const changed = stored.filter(s => s.outcome !== 'unchanged')
  const outbound = await fanOutAll(ctx, db, changed.map(({ n, recordId, outcome }) => {
    const w = ws[n]
    return { recordId, type: w.type, action: outcome === 'created' ? 'create' as const : 'update' as const, origin: w.origin, debug: w.debug, batchId: w.batchId }
  }))
  const jobsOf = new Map(changed.map((s, k) => [s.n, outbound[k]]))
  for (const { n, recordId, outcome, relinked } of stored) {
    ws[n].trace?.add('store', { recordId, outcome })
    answer[n]({ recordId, outcome, outbound: jobsOf.get(n) ?? [], relinked })
  }
  return [...later, ...rows.filter(r => lostIds.has(r.id)).map(r => r.n)].sort((a, b) => a - b)
}

/**
 * writeRecords in a transaction of its own; a lost link race (two writers created the same
 * external record at once) rolls it back and runs it again.
 */
export async function writeRecordsAlone (ctx: Pick<PipelineContext, 'boss' | 'systems' | 'pool' | 'claims'>, ws: RecordWrite[]): Promise<Result[]> {
  const write = () => inClaimingTransaction(ctx, (tx, claim) => writeRecords({ ...ctx, claim }, tx, ws))
  try {
    return await write()
  } catch (err) {
    if (!(err instanceof LinkRace)) throw err
    return await write()
  }
}

/**
 * Writes from concurrent callers (the jobs of a batch, every batch of the process) committed
 * together: one transaction and a few statements for all the writes waiting when it starts.
 */
export function recordWriter (ctx: Pick<PipelineContext, 'boss' | 'systems' | 'pool' | 'claims'>) {
  const write = batcher((ws: RecordWrite[]) => writeRecordsAlone(ctx, ws), { maxParallel: 4 })
  return async (w: RecordWrite): Promise<Written> => {
    const result = await write(w)
    if (result instanceof Error) throw result
    return result
  }
}
