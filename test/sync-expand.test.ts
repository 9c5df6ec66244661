import t from 'tap'
import { batchStatus } from '../src/sync/status.ts'
import { startPipeline } from './helpers/pipeline.ts'

t.test('debug', async t => {
  const p = await startPipeline(t, { workers: false })
  const res = await p.app.inject({ method: 'POST', url: '/v1/sync', headers: p.auth, payload: { system: 'shop', scope: 'customer/update', ids: ['1', '2'] } })
  try { console.log(await batchStatus(p.hub.pool, p.hub.systems, res.json().batchId)) } catch (err) { console.log(err) }
})
