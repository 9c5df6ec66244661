import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { inTransaction } from './pool.ts'
import type { Pool } from './pool.ts'

const viewsFile = fileURLToPath(new URL('../../sql/views/jobs.sql', import.meta.url))
const VIEWS = ['queue_depth', 'throughput', 'oldest_waiting', 'dead_letters', 'record_lineage']
// Any constant of our own: processes starting together create the views one at a time.
const VIEWS_LOCK = 7_407_001

const drop = `DROP VIEW IF EXISTS ${VIEWS.map(v => `hub.${v}`).join(', ')}`

/** Drop the views over pg-boss's tables, so pg-boss may migrate its schema. */
export async function dropJobViews (pool: Pool): Promise<void> {
  await inTransaction(pool, async client => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [VIEWS_LOCK])
    await client.query(drop)
  })
}

/** (Re)create the views over pg-boss's tables (sql/views/jobs.sql); pg-boss must be installed. */
export async function createJobViews (pool: Pool): Promise<void> {
  const sql = await readFile(viewsFile, 'utf8')
  await inTransaction(pool, async client => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [VIEWS_LOCK])
    await client.query(drop)
    await client.query(sql)
  })
}
