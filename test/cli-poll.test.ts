// `hub poll` and `hub initialize`, run as their own processes against a listening hub that polls
// the sandbox ledger (cursor mode).
import t from 'tap'
import { startLedger } from '../sandbox/index.ts'
import { exits, field, hub } from './helpers/cli.ts'
import { ADMIN_KEY, buildTestHub } from './helpers/hub.ts'
import { settled } from './helpers/pipeline.ts'
import { ledgerDoc, linked, pollState, putSystem, source } from './helpers/poll.ts'

t.test('hub poll and hub initialize', async t => {
  const h = await buildTestHub(t, { listen: true, env: { HUB_MAX_EVENT_LOOP_DELAY_MS: '0' } })
  const env = { HUB_URL: h.url, HUB_ADMIN_KEY: ADMIN_KEY }
  const ledger = await source(t, startLedger)
  for (let i = 1; i <= 3; i++) ledger.put(`L${i}`, { email: `c${i}@example.com`, name: `C${i}` })
  await putSystem(h, ledgerDoc('ledger', ledger.url))

  const first = await hub(['poll', 'ledger', 'customer'], env)
  exits(t, first, 0)
  t.match(first.stdout, /^ledger customer: \d+ pages, 3 records seen, 3 changes queued, 0 deletes\n$/, 'the run report')
  await settled(h.hub)
  t.equal(await linked(h, 'ledger'), 3, 'the three customers are hub records')
  t.match((await pollState(h, 'ledger')).types[0].cursor, { id: 'L3' })

  const again = await hub(['poll', 'ledger', 'customer'], env)
  exits(t, again, 0)
  t.match(again.stdout, /^ledger customer: \d+ pages, \d+ records seen, 0 changes queued, 0 deletes\n$/, 'nothing changed since the cursor')

  const reset = await hub(['poll', 'ledger', 'customer', '--reset'], env)
  exits(t, reset, 0)
  t.match(reset.stdout, /^ledger customer: \d+ pages, 3 records seen, 3 changes queued, 0 deletes\n$/, 'the state was cleared: a full pull')

  await settled(h.hub)
  ledger.put('L4', { email: 'c4@example.com', name: 'C4' })
  const init = await hub(['initialize', 'ledger', 'customer'], env)
  exits(t, init, 0)
  t.equal(field(init.stdout, 'queued'), '4', 'every record, from the start')
  t.equal(field(init.stdout, 'completed'), '4')
  t.equal(field(init.stdout, 'failed'), '0')
  t.equal(await linked(h, 'ledger'), 4)
  t.match((await pollState(h, 'ledger')).types[0].lastRun, { initialize: true, enqueued: 4 })

  for (const command of ['poll', 'initialize']) {
    const bad = await hub([command, 'ledger', 'product'], env)
    exits(t, bad, 2)
    t.equal(bad.stderr, 'hub: the hub answered 422: ledger does not poll product: it needs an enabled inbound product flow with poll, and types.product.list\n', `hub ${command}: the API's message, one line`)
    t.equal(bad.stdout, '')
  }
})
