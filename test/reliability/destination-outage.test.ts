// A destination down for longer than its whole retry schedule: its circuit breaker holds the
// deliveries without spending attempts, so nothing is dead-lettered and everything arrives once
// it is back. The schedule is compressed (attempts 3, 100 ms doubling: ~0.3 s of retries) so the
// default's hour and more of retries is a few seconds here; the outage lasts 5 s, many times
// what the attempts alone would cover.
import t from 'tap'
import { testDatabase } from '../helpers/db.ts'
import { waitFor } from '../helpers/pipeline.ts'
import { counter, destinationSystem, events, ids, postHook, sourceSystem, startDestination, startHub, startSource, writeConfig } from './harness.ts'

const RECORDS = 100
const OUTAGE_MS = 5_000

t.test('a destination down for longer than its retries: nothing dead-lettered, all delivered after', async t => {
  const databaseUrl = await testDatabase(t)
  const source = await startSource(t)
  const dest = await startDestination(t)
  const config = await writeConfig(t, [
    sourceSystem('shop', source.url),
    destinationSystem('dest', dest.url, {
      extra: { retry: { attempts: 3, delayMs: 100, maxDelayMs: 400 }, breaker: { failures: 3, probeAfterMs: 300 } }
    })
  ])
  const hub = await startHub(t, databaseUrl, config)
  const count = await counter(t, databaseUrl)

  dest.down = true
  const answer = await postHook(hub.url, 'shop', events(ids(RECORDS)))
  t.equal(answer.status, 202)
  await waitFor(async () => await count.records('shop') === RECORDS, 30_000, 'every record fetched')
  await waitFor(() => dest.refused >= 3, 10_000, 'the destination to refuse deliveries')
  await new Promise(resolve => setTimeout(resolve, OUTAGE_MS))
  t.equal(dest.delivered, 0, 'nothing got through while down')
  t.equal(await count.deadLettered(), 0, 'nothing dead-lettered during the outage')
  const refusedWhileDown = dest.refused

  dest.down = false
  await waitFor(() => dest.delivered === RECORDS, 60_000, 'every record delivered after the recovery')
  await waitFor(async () => await count.pending() === 0, 30_000, 'the pipeline to settle')
  t.equal(dest.delivered, RECORDS, `all ${RECORDS} delivered`)
  t.same(dest.duplicates(), [], 'none twice')
  t.equal(await count.deadLettered(), 0, 'nothing dead-lettered')
  t.ok(refusedWhileDown < RECORDS * 3, `the breaker held the deliveries: ${refusedWhileDown} calls during the outage, fewer than ${RECORDS} records × 3 attempts`)
  t.comment(`calls refused during the ${OUTAGE_MS / 1000} s outage: ${refusedWhileDown}`)
})
