import t from 'tap'
import { cleanUp, retentionOf } from '../jobs/maintenance.ts'
import { parseEnv } from '../src/config/env.ts'
import { createPool } from '../src/db/pool.ts'
import { testDatabase } from './helpers/db.ts'

t.test('old webhook event ids and debug traces are deleted, recent ones kept', async t => {
  const pool = createPool(await testDatabase(t), 2)
  t.teardown(() => pool.end())
  await pool.query(`INSERT INTO hub.hook_events (system_id, event_id, received_at) VALUES
    ('shop', 'old', now() - interval '8 days'), ('shop', 'new', now() - interval '1 day')`)
  await pool.query(`INSERT INTO hub.traces (job_id, queue, steps, created_at) VALUES
    (gen_random_uuid(), 'inbound', '[]', now() - interval '30 days'), (gen_random_uuid(), 'inbound', '[]', now())`)
  t.same(await cleanUp(pool, retentionOf(parseEnv({}))), { hookEvents: 1, traces: 1, history: 0, errors: 0 })
  t.same((await pool.query('SELECT event_id FROM hub.hook_events')).rows, [{ event_id: 'new' }])
  t.equal((await pool.query('SELECT count(*)::int AS n FROM hub.traces')).rows[0].n, 1)
})

t.test('history and errors are deleted after their configured ages, errors kept longer by default', async t => {
  const pool = createPool(await testDatabase(t), 2)
  t.teardown(() => pool.end())
  const keep = retentionOf(parseEnv({}))
  t.same(keep, { traceDays: 7, historyDays: 90, errorDays: 365 }, 'the README\'s defaults')
  for (const days of [10, 100, 400]) {
    await pool.query(`INSERT INTO hub.history (type, system_id, direction, action, outcome, at)
      VALUES ('customer', 'shop', 'inbound', 'create', 'created', now() - make_interval(days => $1))`, [days])
    await pool.query(`INSERT INTO hub.errors (system_id, type, direction, scope, message, queue, job_data, at)
      VALUES ('shop', 'customer', 'inbound', 'customer/create', 'x', 'inbound', '{}', now() - make_interval(days => $1))`, [days])
  }
  t.same(await cleanUp(pool, keep), { hookEvents: 0, traces: 0, history: 2, errors: 1 })
  t.same(await cleanUp(pool, retentionOf(parseEnv({ HUB_KEEP_HISTORY_DAYS: '5', HUB_KEEP_ERRORS_DAYS: '50' }))), { hookEvents: 0, traces: 0, history: 1, errors: 1 })
  t.equal((await pool.query('SELECT count(*)::int AS n FROM hub.errors')).rows[0].n, 1, 'the 10-day-old error stays')
})
