import pg from 'pg'
import type { Queryable } from './queryable.ts'

interface Statement { text: string, values?: unknown[] }

const literal = (v: unknown) => v === null || v === undefined ? 'NULL'
  : pg.escapeLiteral(typeof v === 'object' ? JSON.stringify(v) : String(v))

/** The statement with its parameters written in: a query of several statements takes none. */
const inline = ({ text, values = [] }: Statement) => text.replace(/\$(\d+)/g, (_, n: string) => literal(values[Number(n) - 1]))

/**
 * A Queryable that sends `first` with the next statement it is given, as one query: PostgreSQL
 * runs the statements of one query as one transaction, so both commit together in a single
 * round trip (no BEGIN and COMMIT of their own). Returns the second statement's result. For
 * statements whose texts hold no `$` but their parameters.
 */
export const withFirst = (db: Queryable, first: Statement): Queryable => ({
  query: async (statement: Statement) => {
    const results = await db.query(`${inline(first)};\n${inline(statement)}`) as unknown as pg.QueryResult[]
    return results[results.length - 1]
  }
}) as Queryable
