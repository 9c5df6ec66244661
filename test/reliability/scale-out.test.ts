// Two API and two worker processes on one PostgreSQL: every record accepted is fetched once into
// the hub and delivered once, whichever process took which request or job. 2,000 records show
// that (every process takes part); HUB_SCALE_OUT_RECORDS=10000 runs the full size.
import t from 'tap'
import { testDatabase } from '../helpers/db.ts'
import { waitFor } from '../helpers/pipeline.ts'
import { counter, destinationSystem, events, ids, postHook, sourceSystem, startDestination, startHub, startSource, writeConfig } from './harness.ts'

const RECORDS = Number(process.env.HUB_SCALE_OUT_RECORDS ?? 2_000)
const PER_REQUEST = 100

t.test(`2 API + 2 worker processes, ${RECORDS} records: accepted = processed = delivered, none twice`, async t => {
  const databaseUrl = await testDatabase(t)
  const source = await startSource(t)
  const dest = await startDestination(t)
  const config = await writeConfig(t, [
    sourceSystem('shop', source.url),
    destinationSystem('dest', dest.url, { extra: { throttle: { maxConcurrent: 16 } } })
  ])
  const [apiA, apiB, workerA, workerB] = await Promise.all([
    startHub(t, databaseUrl, config, 'api'),
    startHub(t, databaseUrl, config, 'api'),
    startHub(t, databaseUrl, config, 'worker'),
    startHub(t, databaseUrl, config, 'worker')
  ])
  const count = await counter(t, databaseUrl)

  // Requests of 100 events, alternately to each API process, eight at a time.
  const batches: string[][] = []
  const all = ids(RECORDS)
  for (let i = 0; i < RECORDS; i += PER_REQUEST) batches.push(all.slice(i, i + PER_REQUEST))
  let accepted = 0
  const refused: string[] = []
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < batches.length) {
      const n = next++
      // As a well-behaved sender does: a 503 (overload shed on a busy machine) stored nothing
      // and says to send again later.
      let answer = await postHook((n % 2 ? apiB : apiA).url, 'shop', events(batches[n]))
      for (let tries = 1; answer.status === 503 && tries < 10; tries++) {
        await new Promise(resolve => setTimeout(resolve, 1_000))
        answer = await postHook((n % 2 ? apiA : apiB).url, 'shop', events(batches[n]))
      }
      if (answer.status === 202) accepted += (JSON.parse(answer.body) as { accepted: number }).accepted
      else refused.push(`${answer.status} ${answer.body}`)
    }
  }))
  t.same(refused, [], 'every request accepted')
  t.equal(accepted, RECORDS, `accepted: ${accepted}`)

  await waitFor(() => dest.delivered === RECORDS, 540_000, 'every record delivered').catch(async err => {
    throw new Error(`${(err as Error).message}: ${dest.delivered} delivered, ${await count.records('shop')} fetched`)
  })
  await waitFor(async () => await count.pending() === 0, 60_000, 'the pipeline to settle')
  const processed = await count.records('shop')
  t.equal(processed, RECORDS, `processed (records fetched into the hub): ${processed}`)
  t.equal(dest.delivered, RECORDS, `delivered: ${dest.delivered}`)
  t.equal(await count.records('dest'), RECORDS, 'each linked to its delivered record')
  t.same(dest.duplicates(), [], 'none delivered twice')
  t.equal(await count.deadLettered(), 0, 'nothing dead-lettered')
  t.ok([apiA, apiB, workerA, workerB].every(p => p.child.exitCode === null), 'all four processes still running')
})
