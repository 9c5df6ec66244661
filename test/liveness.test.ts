// A worker process killed in the middle of a create: its job comes back through pg-boss's
// heartbeat, its concurrency slot through its short lease, and the rerun does not create the
// record a second time (idempotency key, or a lookup first).
import type { ServerResponse } from 'node:http'
import t from 'tap'
import type { Test } from 'tap'
import { destLinks, startDelivery } from './helpers/delivery.ts'
import type { Received } from './helpers/http.ts'
import { buildTestHub } from './helpers/hub.ts'
import { settled, waitFor } from './helpers/pipeline.ts'
import { startHubProcess } from './helpers/process.ts'

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

interface Stored { id: string, email: string, key?: string }

/**
 * A destination that honours an Idempotency-Key and answers lookups by email. Its first create
 * is stored but never answered: the worker sending it is killed while it waits.
 */
function destination () {
  const records: Stored[] = []
  const handle = (req: Received, res: ServerResponse) => {
    const url = new URL(req.url, 'http://dest')
    if (req.method === 'GET') return json(res, 200, records.filter(r => r.email === url.searchParams.get('email')))
    const key = req.headers['idempotency-key'] as string | undefined
    const known = key ? records.find(r => r.key === key) : undefined
    if (known) return json(res, 201, known)
    const record = { id: `d${records.length + 1}`, email: JSON.parse(req.body).email, key }
    records.push(record)
    if (records.length > 1) json(res, 201, record)
  }
  return { records, handle }
}

/** Deliver one record through a worker process, SIGKILL it mid-create, let another worker finish. */
async function killMidCreate (t: Test, destSystem: Record<string, unknown>) {
  const dest = destination()
  // maxConcurrent 1: the rerun can only start once the dead worker's slot lease has run out.
  const d = await startDelivery(t, { dest: dest.handle, destSystem: { throttle: { maxConcurrent: 1 }, ...destSystem }, hub: { workers: false } })
  const worker = await startHubProcess(t, { DATABASE_URL: d.databaseUrl, HUB_ROLE: 'worker' })
  await d.deliver(['1'])
  await waitFor(() => d.creates().length === 1, 30_000, 'the first create')
  worker.child.kill('SIGKILL')
  await new Promise(resolve => worker.child.once('exit', resolve))

  await buildTestHub(t, { databaseUrl: d.databaseUrl })
  await waitFor(async () => (await destLinks(d)).length === 1, 60_000, 'the delivery to finish on the second worker')
  await settled(d.hub)
  const { rows: [job] } = await d.hub.pool.query("SELECT state::text AS state, retry_count, output->>'outcome' AS outcome FROM pgboss.job WHERE name = 'outbound'")
  t.match(job, { state: 'completed', outcome: /created|linked/ }, 'the delivery completed')
  t.ok(job.retry_count >= 1, 'pg-boss ran the lost job again')
  // The live worker keeps a slot it is done with a moment (for its next job) before giving it back.
  const free = async () => (await d.hub.pool.query("SELECT holder FROM hub.slots WHERE system_id = 'dest'")).rows
  await waitFor(async () => (await free()).every(s => s.holder === null), 5_000, 'the slot to be given back')
  t.same(await free(), [{ holder: null }], 'the slot is free')
  t.equal(dest.records.length, 1, 'exactly one record at the destination')
  t.same(await destLinks(d), ['d1'], 'linked to it')
  return { d, dest }
}

t.test('with an idempotency key: the rerun sends the same key and the destination keeps one record', async t => {
  const { d, dest } = await killMidCreate(t, { idempotency: { header: 'Idempotency-Key' } })
  const keys = d.creates().map(r => r.headers['idempotency-key'])
  t.equal(keys.length, 2, 'the create was sent again')
  t.ok(keys[0])
  t.equal(keys[1], keys[0], 'with the same key')
  t.equal(dest.records[0].key, keys[0])
})

t.test('with a lookup: the rerun finds the record its dead run created and links it', async t => {
  const { d } = await killMidCreate(t, {
    types: {
      customer: {
        create: { path: '/customers' },
        update: { path: '/customers/{id}' },
        lookup: { path: '/customers', query: { email: '{email}' }, field: 'email' }
      }
    }
  })
  t.equal(d.creates().length, 1, 'no second create')
  const { rows } = await d.hub.pool.query("SELECT outcome FROM hub.history WHERE system_id = 'dest' AND direction = 'outbound'")
  t.same(rows.map(r => r.outcome), ['linked'])
})
