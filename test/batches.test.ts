// readBatches (src/http/batches.ts): an object stream read a buffered batch at a time; csvRows:
// a CSV's records with the line each ends on.
import { PassThrough, Readable } from 'node:stream'
import { parse } from 'csv-parse'
import t from 'tap'
import { csvRows, readBatches } from '../src/http/batches.ts'

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

const rowsOf = async (csv: string, opts?: { blank?: boolean }) => {
  const parser = parse({ relax_column_count: true })
  Readable.from(csv.match(/[^]{1,7}/g)!).pipe(parser)
  const rows: Array<[number, string[]]> = []
  for await (const batch of csvRows(parser, opts)) for (const { line, record } of batch) rows.push([line, record])
  return rows
}

t.test('each CSV record with the line it ends on, as an editor numbers them', async t => {
  t.same(await rowsOf('id\n\n1\n"a\r\nb"\n\n"c\nd\re"\n2'), [[1, ['id']], [3, ['1']], [5, ['a\r\nb']], [9, ['c\nd\re']], [10, ['2']]],
    'empty lines counted and skipped; a CRLF, an LF and a CR inside a quoted cell one line each')
  t.same(await rowsOf('id\r\n1\r\n\r\n2\r\n'), [[1, ['id']], [2, ['1']], [4, ['2']]], 'CRLF line ends')
  t.same(await rowsOf('a,b\n,\n  , \n1,2\n'), [[1, ['a', 'b']], [2, ['', '']], [3, ['  ', ' ']], [4, ['1', '2']]], 'a row of blank cells is a row')
  t.same(await rowsOf('a,b\n,\n  , \n1,2\n', { blank: true }), [[1, ['a', 'b']], [4, ['1', '2']]], 'unless blank rows are skipped')
})
