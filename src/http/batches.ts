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
