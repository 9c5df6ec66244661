import { createHash } from 'node:crypto'
import { stringify } from 'safe-stable-stringify'
import { prepared } from '../db/prepared.ts'
import type { Queryable } from '../db/queryable.ts'
import { foldedKeys, keyFields } from '../models/index.ts'
import type { DataType } from '../models/index.ts'

export interface CanonicalRecord {
  id: string
  type: DataType
  data: Record<string, unknown>
  hash: string
  version: number
  createdAt: string
  updatedAt: string
  deletedAt: string | null
}

/** Content hash over key-sorted JSON, so key order in a source's payload never counts as a change. */
/** A record's content as stored: its JSON with sorted keys, and the hash that tells it unchanged. */
export function content (data: Record<string, unknown>): { json: string, hash: string } {
  const json = stringify(data) as string
  return { json, hash: createHash('sha256').update(json).digest('hex') }
}

const columns = (t = 'hub.records') => `${t}.id, ${t}.type, ${t}.data, ${t}.hash, ${t}.version,
  to_json(${t}.created_at)#>>'{}' AS "createdAt", to_json(${t}.updated_at)#>>'{}' AS "updatedAt",
  to_json(${t}.deleted_at)#>>'{}' AS "deletedAt"`

export async function getRecord (db: Queryable, id: string, lock = false): Promise<CanonicalRecord | undefined> {
  const { rows } = await db.query<CanonicalRecord>(`SELECT ${columns()} FROM hub.records WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id])
  return rows[0]
}

export interface RecordFor { record?: CanonicalRecord, externalId?: string }

/** Records each with its external id in one system (the outbound job's first read), in one round trip. */
export async function recordsFor (db: Queryable, wanted: Array<{ recordId: string, systemId: string }>): Promise<RecordFor[]> {
  const { rows } = await db.query<CanonicalRecord & { externalId: string | null, i: number }>({
    ...prepared(`SELECT k.i::int AS i, ${columns('r')}, l.external_id AS "externalId"
     FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS k(id, system_id, i)
     JOIN hub.records r ON r.id = k.id
     LEFT JOIN hub.links l ON l.record_id = r.id AND l.system_id = k.system_id AND l.type = r.type`),
    values: [wanted.map(w => w.recordId), wanted.map(w => w.systemId)]
  })
  const found: RecordFor[] = wanted.map(() => ({}))
  for (const { i, externalId, ...record } of rows) found[i - 1] = { record, externalId: externalId ?? undefined }
  return found
}

export async function findLink (db: Queryable, systemId: string, type: DataType, externalId: string, lock = false): Promise<string | undefined> {
  const { rows } = await db.query<{ record_id: string }>(
    `SELECT record_id FROM hub.links WHERE system_id = $1 AND type = $2 AND external_id = $3${lock ? ' FOR UPDATE' : ''}`,
    [systemId, type, externalId])
  return rows[0]?.record_id
}

export async function externalIdOf (db: Queryable, systemId: string, type: DataType, recordId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ external_id: string }>(
    'SELECT external_id FROM hub.links WHERE system_id = $1 AND type = $2 AND record_id = $3',
    [systemId, type, recordId])
  return rows[0]?.external_id
}

export interface Link { systemId: string, externalId: string, createdAt: string }

export async function linksOf (db: Queryable, recordId: string): Promise<Link[]> {
  const { rows } = await db.query<Link>(
    `SELECT system_id AS "systemId", external_id AS "externalId", to_json(created_at)#>>'{}' AS "createdAt"
     FROM hub.links WHERE record_id = $1 ORDER BY system_id`, [recordId])
  return rows
}

export interface NewLink { systemId: string, type: DataType, externalId: string, recordId: string }

/** Record that `externalId` in `systemId` is `recordId`; false when that external id is already linked elsewhere. */
export async function addLink (db: Queryable, systemId: string, type: DataType, externalId: string, recordId: string): Promise<boolean> {
  return (await addLinks(db, [{ systemId, type, externalId, recordId }]))[0]
}

/** Several links in one statement; for each, whether it was added (false: that external id, or the record, is linked already). */
export async function addLinks (db: Queryable, links: NewLink[]): Promise<boolean[]> {
  if (!links.length) return []
  const { rows } = await db.query<NewLink>({
    ...prepared(`INSERT INTO hub.links (system_id, type, external_id, record_id)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[])
     ON CONFLICT DO NOTHING RETURNING system_id AS "systemId", type, external_id AS "externalId", record_id AS "recordId"`),
    values: [links.map(l => l.systemId), links.map(l => l.type), links.map(l => l.externalId), links.map(l => l.recordId)]
  })
  const key = (l: NewLink) => `${l.systemId}\n${l.type}\n${l.externalId}\n${l.recordId}`
  const added = new Set(rows.map(key))
  return links.map(l => added.has(key(l)))
}

export async function removeLink (db: Queryable, systemId: string, type: DataType, recordId: string): Promise<void> {
  await db.query('DELETE FROM hub.links WHERE system_id = $1 AND type = $2 AND record_id = $3', [systemId, type, recordId])
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged'

/** Two writers linked the same external record at once; the loser should try again. */
export class LinkRace extends Error {}

/** Records by id, locked for the write that follows. */
export async function lockRecords (db: Queryable, ids: string[]): Promise<Map<string, CanonicalRecord>> {
  if (!ids.length) return new Map()
  const { rows } = await db.query<CanonicalRecord>(`SELECT ${columns()} FROM hub.records WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [ids])
  return new Map(rows.map(r => [r.id, r]))
}

export interface LinkKey { systemId: string, type: DataType, externalId: string }

/** The records these external ids are linked to (by position in `keys`), links and records locked. */
export async function lockLinked (db: Queryable, keys: LinkKey[]): Promise<Map<number, CanonicalRecord>> {
  if (!keys.length) return new Map()
  const { rows } = await db.query<CanonicalRecord & { i: number }>({
    ...prepared(`SELECT k.i::int AS i, ${columns('r')}
     FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(system_id, type, external_id, i)
     JOIN hub.links l ON l.system_id = k.system_id AND l.type = k.type AND l.external_id = k.external_id
     JOIN hub.records r ON r.id = l.record_id
     ORDER BY r.id FOR UPDATE OF l, r`),
    values: [keys.map(k => k.systemId), keys.map(k => k.type), keys.map(k => k.externalId)]
  })
  return new Map(rows.map(({ i, ...record }) => [i - 1, record]))
}

/**
 * The live records of `type` whose top-level `field` is one of `values` (the oldest per value),
 * locked, for key matching. Type and field are written into the SQL (both checked: a data type,
 * a plain field name) so the planner can use the per-type key indexes of migrations 008 and
 * 012. A folded field (foldedKeys) is matched as the folded `values` are: by its ASCII lower case.
 */
export async function lockByKey (db: Queryable, type: DataType, field: string, values: string[]): Promise<Map<string, CanonicalRecord>> {
  if (!/^[a-z_][a-z0-9_]*$/.test(field) || !/^[a-z]+$/.test(type)) throw new Error(`not a key: ${type}.${field}`)
  if (!values.length) return new Map()
  const value = foldedKeys.has(field) ? `lower((data->>'${field}') COLLATE "C")` : `data->>'${field}'`
  const where = `type = '${type}' AND ${value}`
  // An indexed key: one index probe per value (given `= ANY` of hundreds of values the planner
  // guesses most rows match, and scans the table). Any other field: one scan for all values.
  const { rows } = await db.query<CanonicalRecord & { key: string }>(keyFields[type] === field
    ? `SELECT r.*, v.key FROM unnest($1::text[]) AS v(key) CROSS JOIN LATERAL (
         SELECT ${columns()} FROM hub.records WHERE ${where} = v.key AND deleted_at IS NULL ORDER BY created_at LIMIT 1 FOR UPDATE) r`
    : `SELECT ${columns()}, ${value} AS key FROM hub.records WHERE ${where} = ANY($1::text[]) AND deleted_at IS NULL
       ORDER BY created_at DESC FOR UPDATE`, [[...new Set(values)]])
  // Newest first where all are locked, so the oldest per value is set last.
  return new Map(rows.map(({ key, ...record }) => [key, record]))
}

/**
 * Serialize writes that match records by the same key value (imports): held to the end of the
 * transaction, so a second writer of a key waits for the first to commit and then finds the
 * record it created, instead of creating the same new key again. `keys` are `type.field=value`.
 * Taken before any row lock, in one order (sorted by hash), so two writers cannot deadlock on
 * them. One lock-table entry per distinct key: an import's chunk of 500 rows takes 500, well
 * inside PostgreSQL's shared lock table (max_locks_per_transaction × max_connections).
 */
export async function lockKeys (db: Queryable, keys: string[]): Promise<void> {
  if (!keys.length) return
  await db.query({
    ...prepared(`SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended('hub.key:' || k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) s`),
    values: [keys]
  })
}

// One index probe per number (LATERAL … LIMIT 1): an anti-join over hundreds of numbers would
// be planned as a scan of every customer.
const numberOwner = (n: string) => `LEFT JOIN LATERAL (SELECT id FROM hub.records WHERE type = 'customer' AND data->>'customer_number' = ${n} LIMIT 1) o ON true`

/**
 * Our own customer numbers, for destinations that keep a reference back to the hub (seed 003);
 * a number some customer was given by a source or a file is skipped.
 */
export async function nextCustomerNumbers (db: Queryable, n: number): Promise<string[]> {
  const numbers: string[] = []
  while (numbers.length < n) {
    const { rows } = await db.query<{ n: string }>({
      ...prepared(`SELECT s.n FROM (SELECT nextval('hub.customer_number_seq')::text AS n FROM generate_series(1, $1)) s ${numberOwner('s.n')} WHERE o.id IS NULL`),
      values: [n - numbers.length]
    })
    numbers.push(...rows.map(r => r.n))
  }
  return numbers
}

/** The customers already holding these numbers, by number. */
export async function customerNumberOwners (db: Queryable, numbers: string[]): Promise<Map<string, string>> {
  if (!numbers.length) return new Map()
  const { rows } = await db.query<{ n: string, id: string }>(
    `SELECT v.n, o.id FROM unnest($1::text[]) AS v(n) ${numberOwner('v.n')} WHERE o.id IS NOT NULL`, [[...new Set(numbers)]])
  return new Map(rows.map(r => [r.n, r.id]))
}

/** A record to store: `json` and `hash` are its content(). */
export interface RecordRow { id: string, type?: DataType, json: string, hash: string }

// Rows of records travel as one JSON document: a text[] of JSON texts costs the client an
// escaping pass over every record (node-postgres quotes each array element), for the same parse
// on the server. It is spliced from the JSON the hash was taken of (ids, types and hashes need
// no escaping), where serialising the records again was the import's largest single cost.
const recordsJson = (rows: RecordRow[]) =>
  '[' + rows.map(r => `{"id":"${r.id}",${r.type ? `"type":"${r.type}",` : ''}"hash":"${r.hash}","data":${r.json}}`).join(',') + ']'

export async function insertRecords (db: Queryable, rows: Array<RecordRow & { type: DataType }>): Promise<void> {
  if (!rows.length) return
  await db.query({
    ...prepared(`INSERT INTO hub.records (id, type, data, hash)
     SELECT id, type, data, hash FROM jsonb_to_recordset($1::jsonb) AS k(id uuid, type text, data jsonb, hash text)`),
    values: [recordsJson(rows)]
  })
}

/** New content for existing records (a deleted one comes back). */
export async function updateRecords (db: Queryable, rows: RecordRow[]): Promise<void> {
  if (!rows.length) return
  await db.query({
    ...prepared(`UPDATE hub.records r SET data = k.data, hash = k.hash, version = r.version + 1, updated_at = now(), deleted_at = NULL
     FROM jsonb_to_recordset($1::jsonb) AS k(id uuid, data jsonb, hash text) WHERE r.id = k.id`),
    values: [recordsJson(rows)]
  })
}

/** Delete records written in this transaction whose link another writer took first. */
export async function dropRecords (db: Queryable, ids: string[]): Promise<void> {
  if (ids.length) await db.query('DELETE FROM hub.records WHERE id = ANY($1::uuid[])', [ids])
}

/** Soft delete; false when the record was already deleted. */
export async function softDelete (db: Queryable, recordId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE hub.records SET deleted_at = now(), version = version + 1, updated_at = now() WHERE id = $1 AND deleted_at IS NULL', [recordId])
  return rowCount === 1
}

export interface RecordFilters {
  limit: number
  /** The last record of the previous page (ordered by updated_at, id). */
  after?: { updatedAt: string, id: string }
  updatedSince?: string
  /** Linked in this system (or not, with linked false). */
  system?: string
  linked?: boolean
  /** A prefix of `keyField`, case-insensitive. */
  q?: string
  keyField: string
  includeDeleted?: boolean
}

export interface ListedRecord extends Omit<CanonicalRecord, 'hash'> { links: { systemId: string, externalId: string }[] }

/** One page of a type's records, oldest change first. */
export async function listRecords (db: Queryable, type: DataType, f: RecordFilters): Promise<ListedRecord[]> {
  const where = ['r.type = $1']
  const params: unknown[] = [type]
  const param = (v: unknown) => { params.push(v); return `$${params.length}` }
  if (f.after) where.push(`(r.updated_at, r.id) > (${param(f.after.updatedAt)}::timestamptz, ${param(f.after.id)}::uuid)`)
  if (f.updatedSince) where.push(`r.updated_at >= ${param(f.updatedSince)}::timestamptz`)
  if (f.system) where.push(`${f.linked === false ? 'NOT ' : ''}EXISTS (SELECT 1 FROM hub.links l WHERE l.record_id = r.id AND l.system_id = ${param(f.system)})`)
  // LIKE's own wildcards in the text are matched literally.
  if (f.q) where.push(`r.data->>${param(f.keyField)} ILIKE ${param(f.q.replace(/[\\%_]/g, c => '\\' + c) + '%')}`)
  if (!f.includeDeleted) where.push('r.deleted_at IS NULL')
  const { rows } = await db.query<ListedRecord>(
    `SELECT r.id, r.type, r.data, r.version, to_json(r.created_at)#>>'{}' AS "createdAt", to_json(r.updated_at)#>>'{}' AS "updatedAt",
            to_json(r.deleted_at)#>>'{}' AS "deletedAt",
            COALESCE((SELECT json_agg(json_build_object('systemId', l.system_id, 'externalId', l.external_id) ORDER BY l.system_id)
                      FROM hub.links l WHERE l.record_id = r.id), '[]') AS links
     FROM hub.records r WHERE ${where.join(' AND ')} ORDER BY r.updated_at, r.id LIMIT ${param(f.limit)}`, params)
  return rows
}
