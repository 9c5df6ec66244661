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
 * Create or update the canonical record linked to (system, type, externalId). The fields the
 * source mapped replace the record's; fields it did not map are kept, so a system that knows
 * only part of a record (or an echo of our own write) never erases the rest. `validate` checks
 * the merged record (and may normalise it). Call inside a transaction: the link row is locked,
 * so two writers for one external record serialise.
 */
export async function upsertFromSource (db: Queryable, systemId: string, type: DataType, externalId: string,
  mapped: Record<string, unknown>, validate: (data: Record<string, unknown>) => Record<string, unknown>): Promise<{ recordId: string, outcome: WriteOutcome }> {
  const recordId = await findLink(db, systemId, type, externalId, true)
  if (recordId) {
    const current = await getRecord(db, recordId, true)
    if (!current) throw new Error(`link to a missing record ${recordId}`)
    const data = validate({ ...current.data, ...mapped })
    const hash = contentHash(data)
    if (hash === current.hash && !current.deletedAt) return { recordId, outcome: 'unchanged' }
    await db.query(
      'UPDATE hub.records SET data = $2, hash = $3, version = version + 1, updated_at = now(), deleted_at = NULL WHERE id = $1',
      [recordId, data, hash])
    return { recordId, outcome: 'updated' }
  }
  let data = mapped
  // Our own customer number, for destinations that keep a reference back to the hub (seed 003).
  if (type === 'customer' && data.customer_number == null) {
    const { rows } = await db.query<{ n: string }>("SELECT nextval('hub.customer_number_seq')::text AS n")
    data = { ...data, customer_number: rows[0].n }
  }
  data = validate(data)
  // Record and link in one statement (one round trip).
  const { rows } = await db.query<{ record_id: string }>(
    `WITH r AS (INSERT INTO hub.records (type, data, hash) VALUES ($1, $2, $3) RETURNING id)
     INSERT INTO hub.links (system_id, type, external_id, record_id) SELECT $4, $1, $5, id FROM r
     ON CONFLICT DO NOTHING RETURNING record_id`, [type, data, contentHash(data), systemId, externalId])
  // Another writer linked it between our check and insert (ON CONFLICT waited for its commit):
  // running the transaction again finds the link and updates through it.
  if (!rows[0]) throw new LinkRace(`${systemId} ${type} ${externalId} was linked concurrently`)
  return { recordId: rows[0].record_id, outcome: 'created' }
}

/** Soft delete; false when the record was already deleted. */
export async function softDelete (db: Queryable, recordId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE hub.records SET deleted_at = now(), version = version + 1, updated_at = now() WHERE id = $1 AND deleted_at IS NULL', [recordId])
  return rowCount === 1
}
