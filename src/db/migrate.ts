import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'

const sqlDir = fileURLToPath(new URL('../../sql/', import.meta.url))
// Any constant works; it only has to be the same in every hub process.
const MIGRATION_LOCK = 72_210_001

export interface Migration { id: number, name: string, sql: string }

export async function readMigrations (dir = sqlDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter(f => /^\d+_.+\.sql$/.test(f)).sort()
  return await Promise.all(files.map(async f => ({
    id: Number(f.split('_')[0]),
    name: f,
    sql: await readFile(dir + f, 'utf8')
  })))
}

/**
 * Apply the migrations not yet recorded, each in its own transaction. A session advisory lock
 * serialises processes that start at the same time; the second one finds nothing left to do.
 */
export async function migrate (pool: pg.Pool, migrations?: Migration[]): Promise<string[]> {
  const all = migrations ?? await readMigrations()
  const client = await pool.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
    await client.query('CREATE SCHEMA IF NOT EXISTS hub')
    await client.query(`CREATE TABLE IF NOT EXISTS hub.migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
    const { rows } = await client.query<{ id: number }>('SELECT id FROM hub.migrations')
    const done = new Set(rows.map(r => r.id))
    const applied: string[] = []
    for (const m of all) {
      if (done.has(m.id)) continue
      await client.query('BEGIN')
      try {
        await client.query(m.sql)
        await client.query('INSERT INTO hub.migrations (id, name) VALUES ($1, $2)', [m.id, m.name])
        await client.query('COMMIT')
      } catch (err) {
        await client.query('ROLLBACK')
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`)
      }
      applied.push(m.name)
    }
    return applied
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {})
    client.release()
  }
}

/** True when every migration file has been applied (used by /ready). */
export async function migrationsApplied (pool: pg.Pool, migrations: Migration[]): Promise<boolean> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM hub.migrations WHERE id = ANY($1)', [migrations.map(m => m.id)])
  return rows[0].n === migrations.length
}
