import { createHash, randomBytes } from 'node:crypto'
import type pg from 'pg'

export const adminScopes = ['read', 'write', 'delete'] as const
export type AdminScope = typeof adminScopes[number]

export interface AdminKey { id: number, name: string, scopes: AdminScope[] }

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex')
export const generateKey = () => 'hub_' + randomBytes(32).toString('base64url')

export async function findAdminKey (pool: pg.Pool, key: string): Promise<AdminKey | undefined> {
  const { rows } = await pool.query<AdminKey>(
    'UPDATE hub.admin_keys SET last_used_at = now() WHERE key_hash = $1 RETURNING id, name, scopes',
    [hashKey(key)])
  return rows[0]
}

/** Store (or replace) a named key with the given scopes; only its hash is kept. */
export async function putAdminKey (pool: pg.Pool, name: string, key: string, scopes: readonly AdminScope[] = adminScopes): Promise<void> {
  await pool.query(
    `INSERT INTO hub.admin_keys (name, key_hash, scopes) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET key_hash = excluded.key_hash, scopes = excluded.scopes`,
    [name, hashKey(key), scopes])
}

export async function countAdminKeys (pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM hub.admin_keys')
  return rows[0].n
}
