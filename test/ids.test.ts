// The ids the hub gives records and jobs (src/ids.ts): valid UUIDv7s, ordered by time, distinct.
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { newId } from '../src/ids.ts'

t.test('ids are UUIDv7 carrying the millisecond they were made in', async t => {
  const before = Date.now()
  const id = newId()
  t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'version 7, RFC variant')
  const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16)
  t.ok(ms >= before && ms <= Date.now(), 'its first 48 bits are the clock')
})

t.test('ids made later sort after earlier ones, and none repeat', async t => {
  const first = newId()
  await sleep(2)
  const later = Array.from({ length: 10_000 }, newId)
  t.ok(later.every(id => id > first), 'a later millisecond sorts after')
  t.equal(new Set(later).size, later.length, 'distinct within one millisecond too')
})
