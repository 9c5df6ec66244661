import { isDeadlock } from '../db/errors.ts'
import type { PipelineContext } from '../pipeline/context.ts'
import { inClaimingTransaction } from '../pipeline/runner.ts'
import { InvalidRecord, targets, writeRecords, WriteRefused } from '../pipeline/write-record.ts'
import type { RecordWrite } from '../pipeline/write-record.ts'
import { LinkRace } from '../stores/records.ts'
import { RowRefused, rowWriter } from './rows.ts'
import type { RowWriter } from './rows.ts'
import { addProgress, finishImport, importRun, lineOf, nextChunk, takeChunk } from './store.ts'
import type { Chunk, RowError } from './store.ts'

type Context = Pick<PipelineContext, 'pool' | 'boss' | 'systems' | 'claims'>

/** Why a row was refused (its own faults: each bad cell of a record, so one upload finds them
 *  all), as errors of its line; anything else is thrown: the chunk rolls back. */
function refusal (row: number, err: unknown): RowError[] {
  if (err instanceof InvalidRecord) return err.issues.map(i => ({ row, field: i.path, message: i.message }))
  if (err instanceof RowRefused || err instanceof WriteRefused) return [{ row, field: err.field, message: err.message }]
  throw err
}

export interface ImportJob { importId: string }

// One being prepared and sent while the database runs the other (three measured no faster).
const CHUNKS_IN_FLIGHT = 2

/** A chunk's rows as writes (each with its file line), and the errors of the rows refused
 *  before any write (`refusedRows` of them). */
interface Prepared { n: number, writes: Array<{ row: number, w: RecordWrite }>, refused: RowError[], refusedRows: number, rows: number }

async function prepare (writer: RowWriter, chunk: Chunk): Promise<Prepared> {
  const writes: Prepared['writes'] = []
  const refused: RowError[] = []
  let refusedRows = 0
  for (const [i, fields] of chunk.rows.entries()) {
    const row = lineOf(chunk, i)
    try {
      const w = await writer(fields)
      if (w) writes.push({ row, w })
    } catch (err) {
      refused.push(...refusal(row, err))
      refusedRows++
    }
  }
  return { n: chunk.n, writes, refused, refusedRows, rows: chunk.rows.length }
}

/**
 * Write one chunk and its outcome in one transaction, which takes the chunk (deletes its row):
 * a worker killed mid-chunk leaves nothing of it, and a chunk is never written twice. A lost
 * link race or a deadlock rolls it back; it runs again.
 */
async function writeChunk (ctx: Context, id: string, p: Prepared): Promise<void> {
  for (;;) {
    try {
      return await inClaimingTransaction(ctx, async (tx, claim) => {
        if (!await takeChunk(tx, id, p.n)) return
        const written = await writeRecords({ ...ctx, claim }, tx, p.writes.map(x => x.w))
        const failures = [...p.refused]
        let failed = p.refusedRows
        let unchanged = 0
        written.forEach((result, k) => {
          if (result instanceof Error) {
            failures.push(...refusal(p.writes[k].row, result))
            failed++
          } else if (result.outcome === 'unchanged') unchanged++
        })
        // In the file's order, as its reader expects (a row's errors in its cells' order).
        failures.sort((a, b) => a.row - b.row)
        await addProgress(tx, id, { success: p.rows - failed, unchanged, errors: failures, errorCount: failed })
      })
    } catch (err) {
      if (!(err instanceof LinkRace) && !isDeadlock(err)) throw err
    }
  }
}

/**
 * Run an import from where it stands: the chunks still stored, in order, two at a time, so the
 * worker prepares and sends one while PostgreSQL runs the other. A chunk that shares a record
 * (an id, a link, a key value) with a chunk in flight waits for it to commit: of two rows for
 * one record the later one is written last. A bad row is reported and the others go on.
 */
export async function runImport (ctx: Context, id: string, stop?: AbortSignal): Promise<'done' | 'stopped'> {
  const run = await importRun(ctx.pool, id)
  // Deleted, or finished by another worker that held the job before this one.
  if (!run || run.status === 'finished' || run.status === 'error') return 'done'
  const removed = () => finishImport(ctx.pool, id, 'error', `system ${run.options.system} is no longer configured`)
  const gone = async () => !!run.options.system && !await ctx.systems.get(run.options.system)
  const system = run.options.system ? await ctx.systems.get(run.options.system) : undefined
  if (run.options.system && !system) {
    await removed()
    return 'done'
  }
  const writer = rowWriter(run.type, run.headers, run.options, system)
  // The chunks in flight, oldest first. Their promises never reject (a rejection nobody awaits
  // yet would end the process): they answer the error, thrown once awaited.
  type InFlight = { targets: Set<string>, done: Promise<{ err: unknown } | undefined> }
  const inFlight: InFlight[] = []
  const settleOldest = async () => {
    const outcome = await inFlight.shift()!.done
    if (outcome) throw outcome.err
  }
  let ended: 'stopped' | 'removed' | undefined
  try {
    for (let chunk = await nextChunk(ctx.pool, id, 0); chunk; chunk = await nextChunk(ctx.pool, id, chunk.n)) {
      // The worker is stopping: the chunks left wait for the next run. The system the rows
      // belong to was removed: they can be neither mapped nor linked.
      if (stop?.aborted) { ended = 'stopped'; break }
      if (await gone()) { ended = 'removed'; break }
      const p = await prepare(writer, chunk)
      const mine = new Set(p.writes.flatMap(x => targets(x.w)))
      while (inFlight.length >= CHUNKS_IN_FLIGHT || inFlight.some(f => [...mine].some(t => f.targets.has(t)))) await settleOldest()
      inFlight.push({ targets: mine, done: writeChunk(ctx, id, p).then(() => undefined, (err: unknown) => ({ err })) })
    }
    while (inFlight.length) await settleOldest()
  } finally {
    await Promise.all(inFlight.map(f => f.done))
  }
  if (ended === 'stopped') return 'stopped'
  // Once the chunks in flight have committed: each one's progress marks the import processing.
  await (ended === 'removed' ? removed() : finishImport(ctx.pool, id, 'finished'))
  return 'done'
}
