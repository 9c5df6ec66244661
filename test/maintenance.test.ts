import t from 'tap'
import { cleanUp } from '../jobs/maintenance.ts'
import { createPool } from '../src/db/pool.ts'
import { testDatabase } from './helpers/db.ts'

t.test('old webhook event ids and debug traces are deleted, recent ones kept', async t => {
  const pool = createPool(await testDatabase(t), 2)
  t.teardown(() => pool.end())
  await pool.query(`INSERT INTO hub.hook_events (system_id, event_id, received_at) VALUES
    ('shop', 'old', now() - interval '8 days'), ('shop', 'new', now() - interval '1 day')`)
  await pool.query(`INSERT INTO hub.traces (job_id, queue, steps, created_at) VALUES
    (gen_random_uuid(), 'inbound', '[]', now() - interval '30 days'), (gen_random_uuid(), 'inbound', '[]', now())`)
  t.same(await cleanUp(pool), { hookEvents: 1, traces: 1 })
  t.same((await pool.query('SELECT event_id FROM hub.hook_events')).rows, [{ event_id: 'new' }])
  t.equal((await pool.query('SELECT count(*)::int AS n FROM hub.traces')).rows[0].n, 1)
})
