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

/** A csv-parse record read with `info: true`; `info.lines` is the line the record ends on. */
export interface CsvRow { record: string[], info: { lines: number } }

/**
 * A csv-parse stream's records, a batch at a time (readBatches), each with the line it ends on.
 * csv-parse counts a CRLF inside a quoted cell as two lines, so each such break put every later
 * row's number one too far down; those breaks are taken off again here.
 */
export async function * csvRows (parser: Readable): AsyncGenerator<CsvRow[]> {
  let extra = 0
  for await (const batch of readBatches<CsvRow>(parser)) {
    for (const row of batch) {
      for (const cell of row.record) if (cell.includes('\r\n')) extra += cell.split('\r\n').length - 1
      row.info.lines -= extra
    }
    yield batch
  }
}
