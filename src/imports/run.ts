import type { PipelineContext } from '../pipeline/context.ts'
import { inClaimingTransaction } from '../pipeline/runner.ts'
import { InvalidRecord, writeRecords, WriteRefused } from '../pipeline/write-record.ts'
import type { RecordWrite } from '../pipeline/write-record.ts'
import { LinkRace } from '../stores/records.ts'
import { RowRefused, rowWriter } from './rows.ts'
import type { RowWriter } from './rows.ts'
import { finishImport, KEPT_ERRORS, lockImport, recordProgress, rowsFrom } from './store.ts'
import type { RowError } from './store.ts'

/** Why a row was refused (one of its own faults); anything else is thrown: the chunk rolls back. */
function refusal (err: unknown): { field: string, message: string } {
  if (err instanceof InvalidRecord) return { field: err.issues[0].path, message: err.issues[0].message }
  if (err instanceof RowRefused || err instanceof WriteRefused) return { field: err.field, message: err.message }
  throw err
}

export interface ImportJob { importId: string }

/**
 * Run an import from where it stands. Each chunk's rows are written and the import's next_row
 * advanced in one transaction, under the import's row lock: a worker killed mid-chunk leaves
 * nothing of that chunk, and whichever worker picks the job up again starts after the last
 * committed one, so no row is written twice. A bad row is reported and the others go on.
 */
export async function runImport (ctx: Pick<PipelineContext, 'pool' | 'boss' | 'systems' | 'claims'>, id: string): Promise<void> {
  let writer: RowWriter | undefined
  for (;;) {
    let more: boolean
    try {
      more = await inClaimingTransaction(ctx, async (tx, claim) => {
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
        const rows = await rowsFrom(tx, id, run.nextRow)
        if (!rows.length) {
          await finishImport(tx, id, 'finished')
          return false
        }
        // The chunk's rows are written together (writeRecords); a bad row is refused on its own.
        const writes: Array<{ n: number, w: RecordWrite }> = []
        const failures: RowError[] = []
        for (const { n, fields } of rows) {
          try {
            const w = await writer(fields)
            if (w) writes.push({ n, w })
          } catch (err) {
            failures.push({ row: n, ...refusal(err) })
          }
        }
        const written = await writeRecords({ ...ctx, claim }, tx, writes.map(x => x.w))
        written.forEach((result, k) => { if (result instanceof Error) failures.push({ row: writes[k].n, ...refusal(result) }) })
        // In row order, as a reader of the file expects; the file's row counts its header as row 1.
        failures.sort((a, b) => a.row - b.row)
        const errors = failures.slice(0, Math.max(0, KEPT_ERRORS - run.kept)).map(f => ({ ...f, row: f.row + 1 }))
        await recordProgress(tx, id, rows[rows.length - 1].n + 1, rows.length - failures.length, errors, failures.length)
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
