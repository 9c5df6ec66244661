import type { Readable } from 'node:stream'

/**
 * An object stream's items, as many at a time as it holds buffered: one await per batch. Its
 * async iterator costs a promise and a result object per item, most of what a million-row CSV
 * allocated after the parser itself. Throws the stream's error; a stream destroyed before its
 * end without one throws too (nothing is read as complete that was cut off).
 */
export async function * readBatches<T> (stream: Readable): AsyncGenerator<T[]> {
  for (;;) {
    const batch: T[] = []
    for (let item = stream.read(); item !== null; item = stream.read()) batch.push(item)
    if (batch.length) {
      yield batch
      continue
    }
    if (stream.errored) throw stream.errored
    if (stream.readableEnded) return
    if (stream.destroyed) throw new Error('the stream was closed before its end')
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        for (const event of ['readable', 'end', 'close']) stream.off(event, wake)
        stream.off('error', settle)
        if (err) reject(err)
        else resolve()
      }
      const wake = () => settle()
      for (const event of ['readable', 'end', 'close']) stream.on(event, wake)
      stream.on('error', settle)
    })
  }
}

/** A CSV record with the line it ends on (a quoted cell may span lines). */
export interface CsvRow { record: string[], line: number }

const BREAK = /\r\n|\r|\n/g

/**
 * A csv-parse stream's records (parsed without `info`, empty lines kept), a batch at a time
 * (readBatches), each with the line it ends on, counted here: a record takes one line, and one
 * more per line break inside its cells (a CRLF is one, which csv-parse counted as two). Its
 * per-record `info` was 40 % of what a million-id upload allocated. Empty lines are counted and
 * skipped; with `blank`, so are records whose cells are all blank. Index loops: in a generator a
 * for-of allocated an iterator per record (as much again as the parser).
 */
export async function * csvRows (parser: Readable, opts: { blank?: boolean } = {}): AsyncGenerator<CsvRow[]> {
  let line = 0
  for await (const batch of readBatches<string[]>(parser)) {
    const rows: CsvRow[] = []
    for (let r = 0; r < batch.length; r++) {
      const record = batch[r]
      line++
      for (let c = 0; c < record.length; c++) if (record[c].includes('\n') || record[c].includes('\r')) line += record[c].match(BREAK)!.length
      const skipped = opts.blank ? record.every(cell => !cell.trim()) : record.length === 1 && !record[0]
      if (!skipped) rows.push({ record, line })
    }
    if (rows.length) yield rows
  }
}
