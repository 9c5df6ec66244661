import pg from 'pg'

// bigint counts (count(*)) come back as numbers: they never approach 2^53 here.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v))

export type Pool = pg.Pool
export type PoolClient = pg.PoolClient

/**
 * `synchronousCommit: false` is for job handlers only: a commit lost in a crash takes every
 * later commit with it (WAL is flushed in order), including the job's completion, so the job
 * simply runs again. What a client was told is stored (ingest, manual sync) stays synchronous.
 */
export function createPool (connectionString: string, max = 20, opts: { synchronousCommit?: boolean } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: 'hub',
    // A database that is down answers nothing: give up on a connection after a while, so a
    // request gets its 503 rather than hanging.
    connectionTimeoutMillis: 5_000,
    // Prepared statements (src/db/prepared.ts: the hot ones, whose parameters are arrays or JSON
    // documents of many rows) are planned once; by default PostgreSQL planned most of them again
    // at every execution, for the same plan. Unnamed statements are planned each time as ever.
    options: '-c plan_cache_mode=force_generic_plan' + (opts.synchronousCommit === false ? ' -c synchronous_commit=off' : '')
  })
  // A client losing its connection emits 'error'; with no listener that kills the process. The
  // pool listens only while a client is idle (and then replaces it), so every client gets a
  // listener of its own for the time it is checked out: the query in flight rejects anyway,
  // and its caller handles that.
  pool.on('error', () => {})
  pool.on('connect', client => client.on('error', () => {}))
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
