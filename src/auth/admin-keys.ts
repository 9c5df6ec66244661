import { createHash, randomBytes } from 'node:crypto'
import type pg from 'pg'

export const adminScopes = ['read', 'write', 'delete'] as const
export type AdminScope = typeof adminScopes[number]

export interface AdminKey { id: number, name: string, scopes: AdminScope[] }

export const hashKey = (key: string) => createHash('sha256').update(key).digest('hex')
export const generateKey = () => 'hub_' + randomBytes(32).toString('base64url')

// A key's last use is recorded to the minute: a write (and its commit's WAL flush) on every
// request only to move a timestamp cost each API call under load a round trip's worth of wait.
const TOUCH_EVERY = '1 minute'

/** The key with this secret, if any; its last use is recorded when the one recorded is over a minute old. */
export async function findAdminKey (pool: pg.Pool, key: string): Promise<AdminKey | undefined> {
  const { rows } = await pool.query<AdminKey>(
    `WITH k AS (SELECT id, name, scopes, last_used_at FROM hub.admin_keys WHERE key_hash = $1),
     touched AS (UPDATE hub.admin_keys a SET last_used_at = now() FROM k
                 WHERE a.id = k.id AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '${TOUCH_EVERY}'))
     SELECT id, name, scopes FROM k`,
    [hashKey(key)])
  return rows[0]
}

/** Create or replace the key called `name` (only its hash is kept); true when it replaced a different key. */
export async function putAdminKey (pool: pg.Pool, name: string, key: string, scopes: readonly AdminScope[] = adminScopes): Promise<boolean> {
  const { rows } = await pool.query<{ replaced: boolean }>(
    `WITH old AS (SELECT key_hash FROM hub.admin_keys WHERE name = $1)
     INSERT INTO hub.admin_keys (name, key_hash, scopes) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET key_hash = excluded.key_hash, scopes = excluded.scopes
     RETURNING COALESCE((SELECT key_hash <> $2 FROM old), false) AS replaced`,
    [name, hashKey(key), scopes])
  return rows[0].replaced
}

export async function countAdminKeys (pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM hub.admin_keys')
  return rows[0].n
}

/** The scopes in `wanted` that `holder` does not have: a key can only grant what it holds. */
export const missingScopes = (holder: AdminKey, wanted: readonly AdminScope[]) => wanted.filter(s => !holder.scopes.includes(s))

export type Revocation = 'revoked' | 'not_found' | 'last_full_key'

/**
 * Revoke a key unless it is the last one holding every scope: without such a key nobody could
 * grant the full set again, and the hub would be locked out of its own admin API. The check
 * and the delete are one statement, so two concurrent revocations cannot both pass it.
 */
export async function revokeAdminKey (pool: pg.Pool, name: string): Promise<Revocation> {
  const { rows } = await pool.query<{ deleted: boolean, found: boolean }>(
    `WITH target AS (SELECT id, scopes @> $2::text[] AS full_key FROM hub.admin_keys WHERE name = $1 FOR UPDATE),
          others AS (SELECT count(*) AS n FROM hub.admin_keys WHERE name <> $1 AND scopes @> $2::text[]),
          deleted AS (DELETE FROM hub.admin_keys k USING target, others
                      WHERE k.id = target.id AND (NOT target.full_key OR others.n > 0) RETURNING k.id)
     SELECT EXISTS (SELECT 1 FROM deleted) AS deleted, EXISTS (SELECT 1 FROM target) AS found`,
    [name, adminScopes])
  if (rows[0].deleted) return 'revoked'
  return rows[0].found ? 'last_full_key' : 'not_found'
}
