import { inTransaction } from '../db/pool.ts'
import type { PipelineContext } from '../pipeline/context.ts'
import { InvalidRecord, writeRecord, WriteRefused } from '../pipeline/write-record.ts'
import { LinkRace } from '../stores/records.ts'
import { RowRefused, rowWriter } from './rows.ts'
import type { RowWriter } from './rows.ts'
import { finishImport, KEPT_ERRORS, lockImport, recordProgress, rowsFrom } from './store.ts'
import type { RowError } from './store.ts'

/** Rows per transaction: the unit a killed worker redoes. */
export const CHUNK_ROWS = 500

export interface ImportJob { importId: string }

/**
 * Run an import from where it stands. Each chunk's rows are written and the import's next_row
 * advanced in one transaction, under the import's row lock: a worker killed mid-chunk leaves
 * nothing of that chunk, and whichever worker picks the job up again starts after the last
 * committed one, so no row is written twice. A bad row is reported and the others go on.
 */
export async function runImport (ctx: Pick<PipelineContext, 'pool' | 'boss' | 'systems'>, id: string): Promise<void> {
  let writer: RowWriter | undefined
  for (;;) {
    let more: boolean
    try {
      more = await inTransaction(ctx.pool, async tx => {
        const run = await lockImport(tx, id)
        // Deleted, or finished by another worker that held the job before this one.
        if (!run || run.status === 'finished' || run.status === 'error') return false
        if (!writer) {
          const system = run.options.system ? await ctx.systems.get(run.options.system) : undefined
          if (run.options.system && !system) {
            await finishImport(tx, id, 'error', `system ${run.options.system} is no longer configured`)
            return false
          }
          writer = rowWriter(run.type, run.headers, run.options, system)
        }
        const rows = await rowsFrom(tx, id, run.nextRow, CHUNK_ROWS)
        if (!rows.length) {
          await finishImport(tx, id, 'finished')
          return false
        }
        let success = 0
        let errorCount = 0
        const errors: RowError[] = []
        for (const { n, fields } of rows) {
          // The file's row: its header is row 1.
          const fail = (field: string, message: string) => {
            errorCount++
            if (run.kept + errors.length < KEPT_ERRORS) errors.push({ row: n + 1, field, message })
          }
          try {
            const w = await writer(fields)
            if (w) await writeRecord(ctx, tx, w)
            success++
          } catch (err) {
            // Each of these is thrown before the row writes anything, so the chunk goes on.
            if (err instanceof InvalidRecord) fail(err.issues[0].path, err.issues[0].message)
            else if (err instanceof RowRefused || err instanceof WriteRefused) fail(err.field, err.message)
            else throw err
          }
        }
        await recordProgress(tx, id, rows[rows.length - 1].n + 1, success, errors, errorCount)
        return true
      })
    } catch (err) {
      // Two writers linked the same external record at once: this chunk rolled back; redo it.
      if (err instanceof LinkRace) continue
      throw err
    }
    if (!more) return
  }
}
