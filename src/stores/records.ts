import { createHash } from 'node:crypto'
import { stringify } from 'safe-stable-stringify'
import type { Queryable } from '../db/queryable.ts'
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
export const contentHash = (data: unknown) => createHash('sha256').update(stringify(data) ?? '').digest('hex')

const columns = (t = 'hub.records') => `${t}.id, ${t}.type, ${t}.data, ${t}.hash, ${t}.version,
  to_json(${t}.created_at)#>>'{}' AS "createdAt", to_json(${t}.updated_at)#>>'{}' AS "updatedAt",
  to_json(${t}.deleted_at)#>>'{}' AS "deletedAt"`

export async function getRecord (db: Queryable, id: string, lock = false): Promise<CanonicalRecord | undefined> {
  const { rows } = await db.query<CanonicalRecord>(`SELECT ${columns()} FROM hub.records WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id])
  return rows[0]
}

/** A record and its external id in one system (one round trip: the outbound job's first read). */
export async function getRecordFor (db: Queryable, id: string, systemId: string): Promise<{ record?: CanonicalRecord, externalId?: string }> {
  const { rows } = await db.query<CanonicalRecord & { externalId: string | null }>(
    `SELECT ${columns('r')}, l.external_id AS "externalId"
     FROM hub.records r LEFT JOIN hub.links l ON l.record_id = r.id AND l.system_id = $2 AND l.type = r.type
     WHERE r.id = $1`, [id, systemId])
  if (!rows[0]) return {}
  const { externalId, ...record } = rows[0]
  return { record, externalId: externalId ?? undefined }
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

/** Record that `externalId` in `systemId` is `recordId`; false when that external id is already linked elsewhere. */
export async function addLink (db: Queryable, systemId: string, type: DataType, externalId: string, recordId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `INSERT INTO hub.links (system_id, type, external_id, record_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING`, [systemId, type, externalId, recordId])
  return rowCount === 1
}

export async function removeLink (db: Queryable, systemId: string, type: DataType, recordId: string): Promise<void> {
  await db.query('DELETE FROM hub.links WHERE system_id = $1 AND type = $2 AND record_id = $3', [systemId, type, recordId])
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged'

/** Two writers created the same external record's link at once; the loser should try again. */
export class LinkRace extends Error {}

/**
 * The live record of `type` whose top-level `field` is `value` (locked), for key matching.
 * Type and field are written into the SQL (both checked: a data type, a plain field name) so
 * the planner can use the per-type key indexes of migration 008.
 */
export async function findByKey (db: Queryable, type: DataType, field: string, value: string): Promise<CanonicalRecord | undefined> {
  if (!/^[a-z_][a-z0-9_]*$/.test(field) || !/^[a-z]+$/.test(type)) throw new Error(`not a key: ${type}.${field}`)
  const { rows } = await db.query<CanonicalRecord>(
    `SELECT ${columns()} FROM hub.records WHERE type = '${type}' AND data->>'${field}' = $1 AND deleted_at IS NULL
     ORDER BY created_at LIMIT 1 FOR UPDATE`, [value])
  return rows[0]
}

export async function replaceData (db: Queryable, recordId: string, data: Record<string, unknown>, hash: string): Promise<void> {
  await db.query(
    'UPDATE hub.records SET data = $2, hash = $3, version = version + 1, updated_at = now(), deleted_at = NULL WHERE id = $1',
    [recordId, data, hash])
}

/**
 * A new record, and its link when `link` is given. `validate` checks it (and may normalise it)
 * after the hub's own fields are added. Throws LinkRace when another writer linked the same
 * external record meanwhile: running the transaction again finds the link and updates through it.
 */
export async function insertRecord (db: Queryable, type: DataType, given: Record<string, unknown>,
  validate: (data: Record<string, unknown>) => Record<string, unknown>, link?: { systemId: string, externalId?: string }): Promise<string> {
  let data = given
  // Our own customer number, for destinations that keep a reference back to the hub (seed 003).
  if (type === 'customer' && data.customer_number == null) {
    const { rows } = await db.query<{ n: string }>("SELECT nextval('hub.customer_number_seq')::text AS n")
    data = { ...data, customer_number: rows[0].n }
  }
  data = validate(data)
  if (!link?.externalId) {
    const { rows } = await db.query<{ id: string }>('INSERT INTO hub.records (type, data, hash) VALUES ($1, $2, $3) RETURNING id', [type, data, contentHash(data)])
    return rows[0].id
  }
  // Record and link in one statement (one round trip). ON CONFLICT waits for a concurrent
  // writer's commit; the record row of a lost race is rolled back with the transaction.
  const { rows } = await db.query<{ record_id: string }>(
    `WITH r AS (INSERT INTO hub.records (type, data, hash) VALUES ($1, $2, $3) RETURNING id)
     INSERT INTO hub.links (system_id, type, external_id, record_id) SELECT $4, $1, $5, id FROM r
     ON CONFLICT DO NOTHING RETURNING record_id`, [type, data, contentHash(data), link.systemId, link.externalId])
  if (!rows[0]) throw new LinkRace(`${link.systemId} ${type} ${link.externalId} was linked concurrently`)
  return rows[0].record_id
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
