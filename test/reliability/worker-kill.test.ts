// A worker process SIGKILLed three times while 1,000 records flow to two destinations. Each kill
// lands at the worst moment: inside a destination's create, after the record is stored there and
// before the hub hears back, so the rerun of that delivery must not create it again. The CRM has
// a lookup (a rerun finds its own earlier create and links it); the ERP has none, only the
// idempotency key the hub sends with every create. The killed worker's jobs come back once their
// heartbeat is missed; a new worker is started after each kill.
import t from 'tap'
import { waitFor } from '../helpers/pipeline.ts'
import type { HubProcess } from '../helpers/process.ts'
import { deliveredOnce, events, ids, postHook, shopToCrmAndErp, startHub } from './harness.ts'
import type { Destination } from './harness.ts'

const RECORDS = 1_000

t.test('three SIGKILLed workers: every record at both destinations exactly once', async t => {
  const { databaseUrl, crm, erp, config, count } = await shopToCrmAndErp(t)
  const api = await startHub(t, databaseUrl, config, 'api')
  let worker = await startHub(t, databaseUrl, config, 'worker')

  const all = ids(RECORDS)
  for (let i = 0; i < RECORDS; i += 100) {
    t.equal((await postHook(api.url, 'shop', events(all.slice(i, i + 100)))).status, 202)
  }

  const delivered = () => crm.delivered + erp.delivered
  const kills: Array<[Destination, number]> = [[erp, 200], [crm, 450], [erp, 700]]
  for (const [dest, at] of kills) {
    const victim: HubProcess = worker
    let killedAt = -1
    // Kill inside the create: the record exists at the destination, the hub has no answer.
    dest.onCreate = () => {
      if (dest.delivered < at) return
      dest.onCreate = undefined
      victim.child.kill('SIGKILL')
      killedAt = delivered()
    }
    await waitFor(() => killedAt >= 0, 120_000, `create number ${at} at a destination`)
    await victim.stop() // resolves once it has exited
    t.equal(victim.child.signalCode, 'SIGKILL', `worker killed with ${killedAt} deliveries made`)
    worker = await startHub(t, databaseUrl, config, 'worker')
    await waitFor(() => delivered() > killedAt, 60_000, 'deliveries to resume after the kill')
    t.pass(`deliveries resumed after the kill (${delivered()} made)`)
  }

  await deliveredOnce(t, { crm, erp, count }, RECORDS)
  // The creates cut short by the kills were rerun: the ERP recognised their keys, the hub's
  // lookup found the CRM's record. Without these the test would not have exercised the window.
  t.ok(erp.replays >= 2, `ERP: the reruns of the two interrupted creates repeated their idempotency keys (${erp.replays} replays)`)
  const linked = (await count.db.query<{ n: number }>("SELECT count(*)::int AS n FROM hub.history WHERE system_id = 'crm' AND outcome = 'linked'")).rows[0].n
  t.ok(linked >= 1, `CRM: the rerun of the interrupted create found and linked it (${linked} linked)`)
  t.comment(`ERP idempotent replays: ${erp.replays}; CRM records linked by a rerun's lookup: ${linked}`)
})
