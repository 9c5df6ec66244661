// readBatches (src/http/batches.ts): an object stream read a buffered batch at a time.
import { PassThrough, Readable } from 'node:stream'
import t from 'tap'
import { readBatches } from '../src/http/batches.ts'

const collect = async <T>(stream: Readable) => {
  const batches: T[][] = []
  for await (const batch of readBatches<T>(stream)) batches.push(batch)
  return batches
}

t.test('every item once, in order, several to a batch when they are buffered', async t => {
  const batches = await collect<number>(Readable.from(Array.from({ length: 1_000 }, (_, i) => i), { highWaterMark: 100 }))
  t.same(batches.flat(), Array.from({ length: 1_000 }, (_, i) => i))
  t.ok(batches.length < 1_000 && batches.some(b => b.length > 1), `${batches.length} batches for 1,000 items`)
})

t.test('items written later are waited for, until the end', async t => {
  const stream = new PassThrough({ objectMode: true })
  const reading = collect<string>(stream)
  for (const item of ['a', 'b', 'c']) {
    await new Promise(resolve => setTimeout(resolve, 5))
    stream.write(item)
  }
  stream.end()
  t.same((await reading).flat(), ['a', 'b', 'c'])
})

t.test("the stream's error is thrown, and a stream closed before its end is not read as complete", async t => {
  const failing = new PassThrough({ objectMode: true })
  const reading = collect(failing)
  failing.write('a')
  setTimeout(() => failing.destroy(new Error('the upload broke')), 5)
  await t.rejects(reading, /the upload broke/)

  const cut = new PassThrough({ objectMode: true })
  const cutReading = collect(cut)
  setTimeout(() => cut.destroy(), 5)
  await t.rejects(cutReading, /closed before its end/)
})
