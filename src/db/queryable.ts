import type pg from 'pg'

/** A pool or a client inside a transaction: stores take either. */
export type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient
