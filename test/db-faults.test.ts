// The database going away under a running hub: a connection dropped mid-transaction must not
// kill the process, and while the database refuses connections requests get 503 + Retry-After
// (a sender retries) rather than a 500 or an answer that never comes. Both recover by themselves.
import pg from 'pg'
import t from 'tap'
import { inTransaction } from '../src/db/pool.ts'
import { startPipeline, waitFor } from './helpers/pipeline.ts'

/** The test's own database name, and a connection to the server that can act on it. */
async function serverAdmin (t: Parameters<typeof startPipeline>[0], databaseUrl: string) {
  const name = new URL(databaseUrl).pathname.slice(1)
  const admin = new pg.Client(process.env.HUB_TEST_SERVER_URL)
  await admin.connect()
  t.teardown(async () => {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
    await admin.end()
  })
  const terminate = () => admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name])
  return {
    terminate,
    async refuse () {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`)
      await terminate()
    },
    allow: () => admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`)
  }
}

t.test('a connection dropped inside a transaction fails that call only; the process lives on', async t => {
  const p = await startPipeline(t, { workers: false })
  const db = await serverAdmin(t, p.databaseUrl)
  const call = inTransaction(p.hub.pool, tx => tx.query('SELECT pg_sleep(30)'))
  // Awaited below: the assertion holds its handler from the start, because the call can reject
  // before the terminate query's own answer arrives (an unhandled rejection otherwise).
  const callRejects = t.rejects(call, 'the caller sees the error')
  await waitFor(async () => {
    const { rows } = await p.hub.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")
    return rows[0].n > 0
  }, 10_000, 'the transaction to be running')
  await db.terminate()
  await callRejects
  // The idle connections were terminated too: each leaves the pool once its notice arrives
  // (under a loaded suite, after the caller's), and new work then gets a new connection.
  await waitFor(() => p.hub.pool.idleCount === 0, 10_000, 'the terminated idle connections to leave the pool')
  const { rows } = await p.hub.pool.query('SELECT 1 AS one')
  t.same(rows, [{ one: 1 }], 'the pool serves new work afterwards')
})

t.test('while the database refuses connections webhooks get 503 + Retry-After, then 202 again', async t => {
  const p = await startPipeline(t, { workers: false })
  const db = await serverAdmin(t, p.databaseUrl)
  const send = (id: string) => p.app.inject({
    method: 'POST',
    url: '/v1/hooks/shop',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${p.configEnv.SHOP_WEBHOOK_KEY}` },
    payload: { scope: 'customer/update', id }
  })
  await db.refuse()
  const during = await send('1')
  t.equal(during.statusCode, 503, 'unavailable, not a 500')
  t.equal(during.headers['retry-after'], '5', 'with Retry-After')
  t.match(during.json(), { error: { code: 'unavailable', message: /retry later/ } })
  const ready = await p.app.inject({ method: 'GET', url: '/ready' })
  t.equal(ready.statusCode, 503, '/ready says so too')

  await db.allow()
  const after = await waitFor(async () => {
    const res = await send('2')
    return res.statusCode === 202 ? res : undefined
  }, 20_000, 'webhooks to be accepted again')
  t.same(after?.json(), { accepted: 1, coalesced: 0, duplicates: 0 }, 'accepted once the database is back')
  const { rows } = await p.hub.pool.query<{ id: string }>('SELECT record_id AS id FROM hub.hook_backlog')
  t.same(rows.map(r => r.id), ['2'], 'only the accepted webhook was stored')
})
