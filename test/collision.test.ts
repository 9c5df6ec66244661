import t from 'tap'
import type { Test } from 'tap'
import { destLinks, startDelivery } from './helpers/delivery.ts'
import { settled } from './helpers/pipeline.ts'

interface Customer { id: string, mail: string, [field: string]: unknown }

/**
 * The hub against a destination that de-duplicates customers by mail (a create of a known mail
 * answers 409) and finds them through a search that lags its writes by one request, as search
 * indexes do: a customer added just now is found from the next request on. `existing` customers
 * are in the destination before the hub calls it, not yet searchable.
 */
async function start (t: Test, opts: { method: string, existing?: Customer[], source?: (id: string) => Record<string, unknown>, lookup?: Record<string, unknown> }) {
  const store = new Map((opts.existing ?? []).map(c => [c.id, { ...c }]))
  let searchable: Customer[] = []
  let next = 1
  const d = await startDelivery(t, {
    source: opts.source,
    dest: (req, res) => {
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
        searchable = [...store.values()].map(c => ({ ...c }))
      }
      const url = new URL(req.url, 'http://dest')
      if (req.method === 'GET' && url.pathname === '/customers') {
        return answer(200, { customers: searchable.filter(c => c.mail === url.searchParams.get('mail')) })
      }
      if (req.method === 'POST' && url.pathname === '/customers') {
        const body = JSON.parse(req.body) as Customer
        if ([...store.values()].some(c => c.mail === body.mail)) return answer(409, { error: `mail ${body.mail} is taken` })
        const created = { ...body, id: `N${next++}` }
        store.set(created.id, created)
        return answer(201, created)
      }
      const id = /^\/customers\/(\w+)$/.exec(url.pathname)?.[1]
      const found = id && store.get(id)
      if (req.method === 'PUT' && found) {
        store.set(found.id, { ...found, ...JSON.parse(req.body) as object, id: found.id })
        return answer(200, store.get(found.id))
      }
      answer(404, { error: 'not found' })
    },
    destSystem: {
      types: {
        customer: {
          create: { path: '/customers' },
          update: { path: '/customers/{id}' },
          lookup: { path: '/customers', query: { mail: '{mail}' }, field: 'mail', ...(opts.lookup ?? { resultPath: 'customers' }) }
        }
      },
      flows: [{
        type: 'customer',
        direction: 'outbound',
        actions: ['create', 'update'],
        collision: { method: opts.method, field: 'mail' },
        mappings: [{ kind: 'field', from: 'email_address', to: 'mail' }, { kind: 'static', value: 'hub', to: 'origin' }]
      }]
    }
  })
  const calls = () => d.dest.received.map(r => `${r.method} ${r.url.split('?')[0]}`)
  const errors = async () => (await d.app.inject({ url: '/v1/errors?system=dest', headers: d.auth })).json().errors as Array<{ message: string, httpStatus: number, recordId: string }>
  const hubId = async (srcId: string) => (await d.app.inject({ url: `/v1/records/customer/by-link/src/${srcId}`, headers: d.auth })).json().id as string
  return { ...d, store, calls, errors, hubId }
}

for (const method of ['link', 'update-and-link']) {
  t.test(`a create answered 409 (a duplicate) is matched by the lookup and linked (${method})`, async t => {
    const d = await start(t, { method, existing: [{ id: 'X1', mail: 'c1@example.com', name: 'Ada' }] })
    await d.deliver(['1'])
    await settled(d.hub)
    t.same(d.calls(), [
      'GET /customers', // the lookup does not see X1 yet
      'POST /customers', // refused: 409
      'GET /customers', // the collision handling finds X1
      ...(method === 'update-and-link' ? ['PUT /customers/X1'] : [])
    ])
    t.same(await destLinks(d), ['X1'], 'linked to the existing record')
    t.equal(d.store.size, 1, 'no duplicate at the destination')
    t.same(d.store.get('X1'), method === 'update-and-link'
      ? { id: 'X1', mail: 'c1@example.com', name: 'Ada', origin: 'hub' }
      : { id: 'X1', mail: 'c1@example.com', name: 'Ada' }, method === 'update-and-link' ? 'updated with the mapped fields' : 'left as it was')
    const record = (await d.app.inject({ url: '/v1/records/customer/by-link/dest/X1', headers: d.auth })).json()
    t.ok(record.history.some((h: { systemId: string, outcome: string }) => h.systemId === 'dest' && h.outcome === 'linked'), 'history says linked')
    t.same(await d.errors(), [])
  })
}

t.test('two hub records matching one destination record: a link conflict named in the error log', async t => {
  const d = await start(t, {
    method: 'link',
    existing: [{ id: 'X1', mail: 'ada@example.com' }],
    source: id => ({ id, email: 'ada@example.com' })
  })
  await d.deliver(['1', '2'])
  await settled(d.hub)
  t.ok(d.calls().includes('POST /customers'), 'a create was refused as a duplicate on the way')
  t.same(await destLinks(d), ['X1'], 'one of them is linked')
  t.equal(d.store.size, 1, 'no duplicate at the destination')
  const errors = await d.errors()
  t.equal(errors.length, 1)
  const m = /^customer (\S+) and customer (\S+) both match dest record X1 \(by mail=ada@example\.com\); link conflict$/.exec(errors[0]?.message)
  t.ok(m, errors[0]?.message)
  t.same([m?.[1], m?.[2]].sort(), [await d.hubId('1'), await d.hubId('2')].sort(), 'both hub records are named')
  t.equal(m?.[1], errors[0].recordId, 'the failed one first')
  t.equal(errors[0].httpStatus, 409)
})

t.test('a lookup answering an object with no resultPath set fails at once, naming resultPath', async t => {
  const d = await start(t, { method: 'link', lookup: {} })
  await d.deliver(['1'])
  await settled(d.hub)
  t.same(d.calls(), ['GET /customers'], 'nothing was created')
  t.same((await d.errors()).map(e => e.message),
    ["dest's customer lookup answered an object; set types.customer.lookup.resultPath to where the matches are"])
})
