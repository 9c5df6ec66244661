// The heap flags every hub process runs with (src/heap.ts): `npm start` and the Dockerfile give
// them to the first process, the worker-process fork adds them unless they were chosen already.
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { HEAP_FLAGS, heapFlags } from '../src/heap.ts'

t.test('npm start and the Dockerfile start the hub with the heap flags', async t => {
  const root = new URL('../', import.meta.url)
  const start: string = JSON.parse(await readFile(new URL('package.json', root), 'utf8')).scripts.start
  t.same(start.split(' ').filter(w => w.startsWith('--')), HEAP_FLAGS, 'npm start')
  const cmd = /^CMD (\[.*\])$/m.exec(await readFile(new URL('Dockerfile', root), 'utf8'))
  t.same(JSON.parse(cmd![1]).filter((w: string) => w.startsWith('--')), HEAP_FLAGS, 'the image')
})

t.test('a heap flag chosen by whoever starts the hub is not overridden', async t => {
  t.same(heapFlags([], ''), HEAP_FLAGS, 'none chosen: all of them')
  t.same(heapFlags(['--max-old-space-size=4096'], ''), ['--max-semi-space-size=16'], 'on the command line')
  t.same(heapFlags([], '--inspect --max_semi_space_size=64'), ['--max-old-space-size=1024'], 'in NODE_OPTIONS, with underscores')
  t.same(heapFlags(HEAP_FLAGS, ''), [], 'inherited from the parent: not repeated')
})
