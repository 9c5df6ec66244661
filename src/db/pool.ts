import pg from 'pg'

// bigint counts (count(*)) come back as numbers: they never approach 2^53 here.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v))

export type Pool = pg.Pool
export type PoolClient = pg.PoolClient

export function createPool (connectionString: string, max = 20): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: 'hub' })
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {})
  return pool
}

/** Run `fn` in a transaction on one client, committing on success and rolling back on error. */
export async function inTransaction<T> (pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}
