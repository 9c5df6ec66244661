// The API process SIGKILLed once it has answered, its pump stuck mid-pass (the test holds the
// pump's lock): what it accepted is in the webhook backlog (hub.hook_backlog), not yet a single
// job. A worker started afterwards makes every accepted webhook a job and delivers it, once.
import t from 'tap'
import { PUMP_LOCK } from '../../src/ingest/pump.ts'
import { deliveredOnce, events, ids, postHook, shopToCrmAndErp, startHub } from './harness.ts'

const RECORDS = 200

t.test('the API killed with every webhook accepted and its pump stuck, none a job yet: a later worker delivers them all, once', async t => {
  const { databaseUrl, crm, erp, config, count } = await shopToCrmAndErp(t)
  await count.db.query('SELECT pg_advisory_lock($1)', [PUMP_LOCK])
  const api = await startHub(t, databaseUrl, config, 'api')
  const all = ids(RECORDS)
  for (let i = 0; i < RECORDS; i += 100) {
    t.equal((await postHook(api.url, 'shop', events(all.slice(i, i + 100)))).status, 202)
  }
  t.equal(await count.jobs(), 0, 'no job made: the pump waits for its lock')
  t.equal(await count.pending(), RECORDS, 'every accepted webhook is stored')
  api.child.kill('SIGKILL')
  await api.stop()
  t.equal(api.child.signalCode, 'SIGKILL')
  await count.db.query('SELECT pg_advisory_unlock($1)', [PUMP_LOCK])

  await startHub(t, databaseUrl, config, 'worker')
  await deliveredOnce(t, { crm, erp, count }, RECORDS)
})
