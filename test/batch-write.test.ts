import t from 'tap'
import { batcher } from '../src/db/batcher.ts'
import type { BatcherOptions } from '../src/db/batcher.ts'
import type { SystemConfig } from '../src/config/systems.ts'
import type { Queryable } from '../src/db/queryable.ts'
import { inTransaction } from '../src/db/pool.ts'
import { createPipelineContext } from '../src/pipeline/create-context.ts'
import { InvalidRecord, writeRecords } from '../src/pipeline/write-record.ts'
import type { RecordWrite } from '../src/pipeline/write-record.ts'
import { startWorkers } from '../src/workers.ts'
import { buildTestHub } from './helpers/hub.ts'
import { startPipeline, waitFor } from './helpers/pipeline.ts'

// The batch pipeline's pieces: calls made together share one flush, yet each keeps its own result
// and its own failure; writes to one record in one batch apply in order.

t.test('a batcher shares one flush between concurrent calls, and a bad item fails alone', async t => {
  const flushes: number[][] = []
  const double = batcher(async (items: number[]) => {
    flushes.push(items)
    if (items.includes(13)) throw new Error('13 is refused')
    return items.map(n => n * 2)
  })
  t.same(await Promise.all([1, 2, 3].map(double)), [2, 4, 6])
  t.same(flushes, [[1, 2, 3]], 'three calls, one flush')

  flushes.length = 0
  const results = await Promise.allSettled([4, 13, 5].map(double))
  t.same(results.map(r => r.status === 'fulfilled' ? r.value : (r.reason as Error).message), [8, '13 is refused', 10])
  t.same(flushes, [[4, 13, 5], [4], [13], [5]], 'the failed flush ran again item by item')

  flushes.length = 0
  const unavailable = batcher(async (items: number[]) => {
    flushes.push(items)
    throw Object.assign(new Error('the database system is shutting down'), { code: '57P01' })
  })
  const down = await Promise.allSettled([1, 2].map(unavailable))
  t.same(down.map(r => r.status), ['rejected', 'rejected'])
  t.same(flushes, [[1, 2]], 'a database that is away is not asked again item by item')
})

/** A batcher answering each item with itself whose first flush waits for `release()`; `flushes` records every flush. */
function heldBatcher<T> (options: BatcherOptions<T>) {
  const flushes: T[][] = []
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const call = batcher(async (items: T[]) => {
    flushes.push(items)
    if (flushes.length === 1) await gate
    return items
  }, options)
  return { call, flushes, release }
}

t.test('a batcher holds calls made while a flush runs, and sends them together next', async t => {
  const { call: echo, flushes, release } = heldBatcher<number>({ maxParallel: 1 })
  const first = echo(0)
  await new Promise(resolve => setImmediate(resolve))
  const later = [1, 2, 3].map(echo)
  await new Promise(resolve => setTimeout(resolve, 20))
  t.same(flushes, [[0]], 'nothing else is sent while the one flush allowed runs')
  release()
  t.same(await Promise.all([first, ...later]), [0, 1, 2, 3])
  t.same(flushes, [[0], [1, 2, 3]])
})

t.test('a batcher weighs items, refuses calls that wait too long or too many, and sends none of them', async t => {
  // The first flush, 'stall', hangs until released.
  const { call: store, flushes, release } = heldBatcher<string>({
    maxParallel: 1,
    weight: s => s.length,
    maxWeight: 6,
    maxWaitMs: 50,
    expired: () => new Error('waited too long'),
    maxWaiting: 3,
    overloaded: n => new Error(`${n} waiting`)
  })
  const stalled = store('stall')
  await new Promise(resolve => setImmediate(resolve))
  const late = [store('aa'), store('bbbb'), store('cc')].map(p => p.catch((e: Error) => e.message))
  // The batcher's own timer does not hold the process open (a server's sockets do).
  const alive = setTimeout(() => {}, 5_000)
  t.teardown(() => clearTimeout(alive))
  t.equal(await store('dd').catch((e: Error) => e.message), '3 waiting', 'the fourth waiting call is refused at once')
  t.same(await Promise.all(late), ['waited too long', 'waited too long', 'waited too long'], 'refused while the flush in flight hangs')
  release()
  t.equal(await stalled, 'stall')
  t.same(await Promise.all(['aa', 'bbbb', 'cc'].map(store)), ['aa', 'bbbb', 'cc'])
  t.same(flushes, [['stall'], ['aa', 'bbbb'], ['cc']], 'nothing refused was sent; a flush carries up to maxWeight')
})

t.test('writeRecords: one invalid write is refused in its place, two writes to one record apply in order', async t => {
  const { hub } = await buildTestHub(t, { workers: false })
  const write = (externalId: string, data: Record<string, unknown>): RecordWrite =>
    ({ type: 'customer', origin: 'api', linked: false, externalId, key: 'email_address', data, mode: 'merge' })
  const results = await inTransaction(hub.pool, tx => writeRecords(hub, tx, [
    write('a', { email_address: 'ada@example.com', first_name: 'Ada' }),
    write('b', { email_address: 'not an email' }),
    write('c', { email_address: 'ada@example.com', first_name: 'Augusta' }),
    write('d', { email_address: 'bob@example.com', first_name: 'Bob' })
  ]))
  t.ok(results[1] instanceof InvalidRecord, 'the invalid one is refused')
  t.match((results[1] as InvalidRecord).issues, [{ path: 'email_address' }])
  const [a, , c, d] = results as Array<{ recordId: string, outcome: string }>
  t.same([a.outcome, c.outcome, d.outcome], ['created', 'updated', 'created'], 'the second write to ada found the first one\'s record')
  t.equal(c.recordId, a.recordId)
  const { rows } = await hub.pool.query("SELECT data->>'first_name' AS name FROM hub.records ORDER BY data->>'email_address'")
  t.same(rows.map(r => r.name), ['Augusta', 'Bob'], 'the later write won')
  const history = await hub.pool.query('SELECT outcome FROM hub.history WHERE record_id = $1 ORDER BY id', [a.recordId])
  t.same(history.rows.map(r => r.outcome), ['created', 'updated'], 'history in the order written')
})

t.test('writeRecords: a key finds the oldest live record with that value, by the indexed key field or any other', async t => {
  const { hub } = await buildTestHub(t, { workers: false })
  const write = (key: string, data: Record<string, unknown>): RecordWrite => ({ type: 'customer', origin: 'import', linked: false, key, data, mode: 'merge' })
  const put = (key: string, ...data: Array<Record<string, unknown>>) => inTransaction(hub.pool, tx => writeRecords(hub, tx, data.map(d => write(key, d)))) as Promise<Array<{ recordId: string, outcome: string }>>
  // Two records share a last name (no key has found either yet: each is its own new record).
  const [older] = await put('email_address', { email_address: 'ann@example.com', last_name: 'Lovelace' })
  const [newer] = await put('email_address', { email_address: 'bea@example.com', last_name: 'Lovelace' })
  t.not(older.recordId, newer.recordId)
  const [byName] = await put('last_name', { last_name: 'Lovelace', first_name: 'Ada' })
  t.same([byName.recordId, byName.outcome], [older.recordId, 'updated'], 'a field with no index: the oldest match')
  const [byEmail, fresh] = await put('email_address', { email_address: 'bea@example.com', first_name: 'Bea' }, { email_address: 'cy@example.com' })
  t.same([byEmail.recordId, byEmail.outcome], [newer.recordId, 'updated'], 'the indexed key field')
  t.equal(fresh.outcome, 'created', 'a value no record has creates one')
  await hub.pool.query('UPDATE hub.records SET deleted_at = now() WHERE id = $1', [older.recordId])
  const [afterDelete] = await put('last_name', { last_name: 'Lovelace', company: 'Engines' })
  t.same([afterDelete.recordId, afterDelete.outcome], [newer.recordId, 'updated'], 'a deleted record is not matched')
})

t.test('writeRecords: two transactions writing the same new key make one record (the second waits and finds it); another key does not wait', async t => {
  const { hub } = await buildTestHub(t, { workers: false })
  const write = (first: string): RecordWrite => ({ type: 'customer', origin: 'import', linked: false, key: 'email_address', data: { email_address: 'new@example.com', first_name: first }, mode: 'merge' })
  const first = await hub.pool.connect()
  t.teardown(() => first.release())
  await first.query('BEGIN')
  const [created] = await writeRecords(hub, first, [write('One')]) as Array<{ outcome: string }>
  t.equal(created.outcome, 'created')
  // Another key value does not wait: the lock is the value's, not the field's.
  const other: RecordWrite = { ...write('Other'), data: { email_address: 'other@example.com' } }
  t.match(await inTransaction(hub.pool, tx => writeRecords(hub, tx, [other])), [{ outcome: 'created' }], 'another key value commits meanwhile')
  // The second import's chunk starts while the first has not committed.
  const second = inTransaction(hub.pool, tx => writeRecords(hub, tx, [write('Two')]))
  await waitFor(async () => (await hub.pool.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).rowCount === 1, 5_000, 'the second writer to wait')
  await first.query('COMMIT')
  const [after] = await second as Array<{ recordId: string, outcome: string }>
  t.equal(after.outcome, 'updated', 'the second found the record the first created')
  const { rows } = await hub.pool.query("SELECT data->>'first_name' AS name FROM hub.records WHERE data->>'email_address' = 'new@example.com'")
  t.same(rows.map(r => r.name), ['Two'], 'one record, written by both in turn')
})

t.test('writeRecords: two writes that find one record by different keys (its id, its link) apply in order', async t => {
  const { hub } = await buildTestHub(t, { workers: false })
  const viaLink = (data: Record<string, unknown>): RecordWrite => ({ type: 'customer', origin: 'shop', linked: true, externalId: 'X', data, mode: 'merge' })
  const [created] = await inTransaction(hub.pool, tx => writeRecords(hub, tx, [viaLink({ email_address: 'x@example.com', first_name: 'X' })])) as Array<{ recordId: string }>
  const results = await inTransaction(hub.pool, tx => writeRecords(hub, tx, [
    { type: 'customer', origin: 'api', linked: false, recordId: created.recordId, data: { email_address: 'x@example.com', first_name: 'First' }, mode: 'replace' },
    viaLink({ last_name: 'Second' })
  ])) as Array<{ recordId: string, outcome: string }>
  t.same(results.map(r => [r.recordId, r.outcome]), [[created.recordId, 'updated'], [created.recordId, 'updated']])
  const { rows: [record] } = await hub.pool.query('SELECT data, version FROM hub.records WHERE id = $1', [created.recordId])
  t.match(record.data, { first_name: 'First', last_name: 'Second' }, 'the second write merged onto the first')
  t.equal(record.version, 3, 'two updates after the create')
})

t.test('concurrent writes through the pipeline writer share a transaction; a refused one does not undo the others', async t => {
  const { hub } = await buildTestHub(t, { workers: false })
  // The writer's transactions, counted as the connections it takes.
  let transactions = 0
  const pool = { query: hub.pool.query.bind(hub.pool), connect: () => { transactions++; return hub.pool.connect() } } as unknown as typeof hub.pool
  const ctx = createPipelineContext(pool, hub)
  const linked = (externalId: string, data: Record<string, unknown>): RecordWrite =>
    ({ type: 'customer', origin: 'shop', linked: true, externalId, data, mode: 'merge' })
  const settled = await Promise.allSettled([
    ctx.writeRecord(linked('1', { email_address: 'one@example.com' })),
    ctx.writeRecord(linked('2', { email_address: 'broken' })),
    ctx.writeRecord(linked('1', { email_address: 'one@example.com', first_name: 'One' })),
    ctx.writeRecord(linked('3', { email_address: 'three@example.com' }))
  ])
  t.same(settled.map(s => s.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
  t.ok((settled[1] as PromiseRejectedResult).reason instanceof InvalidRecord, 'the invalid one is refused')
  const outcomes = settled.flatMap(s => s.status === 'fulfilled' ? [s.value.outcome] : [])
  t.same(outcomes, ['created', 'updated', 'created'], 'record 1 created, then updated, in the order asked')
  const { rows } = await hub.pool.query("SELECT l.external_id, r.data->>'first_name' AS name FROM hub.links l JOIN hub.records r ON r.id = l.record_id WHERE l.system_id = 'shop' ORDER BY 1")
  t.same(rows, [{ external_id: '1', name: 'One' }, { external_id: '3', name: null }])
  t.equal(transactions, 1, `four writes, one transaction (${transactions})`)
})

t.test('a batch of deliveries with one failing job completes the others', async t => {
  const p = await startPipeline(t, { workers: false, env: { HUB_MAX_EVENT_LOOP_DELAY_MS: '0' } })
  const items = ['a', 'b', 'c', 'd', 'e'].map(n => ({ email_address: `${n}@example.com`, first_name: n }))
  const res = await p.app.inject({ method: 'POST', url: '/v1/records/customer/batch', headers: p.auth, payload: items })
  t.same(res.json().results.map((r: { status: string }) => r.status), ['created', 'created', 'created', 'created', 'created'])
  // Queued before any worker runs, so the workers fetch the deliveries together.
  p.crm.failNext(1, 422, { method: 'POST', pathPrefix: '/customers', body: { error: 'email domain is blocked' } })
  const workers = await startWorkers(p.hub)
  t.teardown(() => workers.stop())
  await p.settled()
  t.equal(p.crm.all('customer').length, 4, 'the CRM got the four it accepted')
  t.equal(p.erp.all('customer').length, 5, 'the ERP got all five')
  const errors = (await p.app.inject({ url: '/v1/errors', headers: p.auth })).json().errors
  t.match(errors, [{ system: 'crm', httpStatus: 422, message: /email domain is blocked/ }], 'the one failure is logged alone')
  const { rows } = await p.hub.pool.query<{ state: string, n: number }>(
    "SELECT state::text, count(*)::int AS n FROM pgboss.job WHERE name = 'outbound' GROUP BY 1 ORDER BY 1")
  t.same(rows, [{ state: 'completed', n: 9 }, { state: 'failed', n: 1 }])
})

t.test('the jobs of a batch that find their breaker view stale share one read of it', async t => {
  const { hub } = await buildTestHub(t, { workers: false })
  const { breakers } = await import('../src/connectors/breaker.ts')
  // A closed breaker's admit reads only the system's id.
  const system = { id: 'shop' } as SystemConfig
  let reads = 0
  const counting = {
    query: (text: string, values?: unknown[]) => {
      if (/FROM hub\.breakers WHERE system_id/.test(text)) reads++
      return hub.pool.query(text, values)
    }
  } as unknown as Queryable
  const { admit } = breakers(counting, hub.log)
  const passes = await Promise.all(Array.from({ length: 20 }, () => admit(system)))
  t.same(passes, Array(20).fill({ probe: false }))
  t.equal(reads, 1, 'twenty admits, one read')
})
