// The API process SIGKILLed once it has answered, its pump stuck mid-pass (the test holds the
// pump's lock): what it accepted is in the webhook backlog (hub.hook_backlog), not yet a single
// job. A worker started afterwards makes every accepted webhook a job and delivers it, once.
import t from 'tap'
import { PUMP_LOCK } from '../../src/ingest/pump.ts'
import { testDatabase } from '../helpers/db.ts'
import { waitFor } from '../helpers/pipeline.ts'
import { counter, destinationSystem, events, ids, postHook, sourceSystem, startDestination, startHub, startSource, writeConfig } from './harness.ts'

const RECORDS = 200

t.test('the API killed with every webhook accepted and its pump stuck, none a job yet: a later worker delivers them all, once', async t => {
  const databaseUrl = await testDatabase(t)
  const source = await startSource(t)
  const crm = await startDestination(t)
  const erp = await startDestination(t, { idempotencyHeader: 'Idempotency-Key' })
  const config = await writeConfig(t, [
    sourceSystem('shop', source.url),
    destinationSystem('crm', crm.url, { lookup: true }),
    destinationSystem('erp', erp.url, { idempotencyHeader: 'Idempotency-Key' })
  ])
  const count = await counter(t, databaseUrl)
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
  await waitFor(() => crm.delivered + erp.delivered === 2 * RECORDS, 120_000, 'every record at both destinations')
  await waitFor(async () => await count.pending() === 0, 60_000, 'the pipeline to settle')
  t.equal(crm.delivered, RECORDS, `CRM: all ${RECORDS} records`)
  t.equal(erp.delivered, RECORDS, `ERP: all ${RECORDS} records`)
  t.same(crm.duplicates(), [], 'CRM: none twice')
  t.same(erp.duplicates(), [], 'ERP: none twice')
  t.equal(await count.deadLettered(), 0, 'nothing dead-lettered')
})
