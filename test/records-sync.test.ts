import t from 'tap'
import { ADMIN_KEY } from './helpers/hub.ts'
import { startPipeline } from './helpers/pipeline.ts'

// A loaded test machine's event loop lag must not turn requests into 503s here.
const calm = { env: { HUB_MAX_EVENT_LOOP_DELAY_MS: '0' } }

// The sync endpoints (seed 001): create or replace through the one write, fanned out to every
// subscribed system except the one the record came from.

t.test('create or replace: id before external_id, replace drops fields, fan-out skips the origin', async t => {
  const p = await startPipeline(t, calm)
  const post = (payload: object, url = '/v1/records/customer?system=erp') =>
    p.app.inject({ method: 'POST', url, headers: p.auth, payload })

  const created = await post({ external_id: 'E-1', email_address: 'ada@example.com', first_name: 'Ada', company: 'Engines' })
  t.equal(created.statusCode, 200, created.body)
  const { id, status, external_id: ext } = created.json()
  t.equal(status, 'created')
  t.equal(ext, 'E-1')
  await p.settled()
  t.equal(p.crm.all('customer').length, 1, 'the CRM got it')
  t.equal(p.erp.all('customer').length, 0, 'the ERP, where it came from, did not')

  t.equal((await post({ external_id: 'E-1', email_address: 'ada@example.com', first_name: 'Ada', company: 'Engines' })).json().status, 'unchanged')

  const replaced = await post({ external_id: 'E-1', email_address: 'ada@example.com', first_name: 'Ada' })
  t.same([replaced.json().status, replaced.json().id], ['replaced', id])
  const record = (await p.app.inject({ url: `/v1/records/customer/${id}`, headers: p.auth })).json()
  t.notOk('company' in record.data, 'a field the new body lacks is gone')
  t.ok(record.data.customer_number, "the hub's own customer number is kept")
  const other = (await post({ external_id: 'E-3', email_address: 'other@example.com' })).json()
  const othersNumber = (await p.app.inject({ url: `/v1/records/customer/${other.id}`, headers: p.auth })).json().data.customer_number
  t.equal((await post({ external_id: 'E-1', email_address: 'ada@example.com', first_name: 'Ada', customer_number: othersNumber })).json().status, 'unchanged', 'a number given is ignored')
  t.equal((await p.app.inject({ url: `/v1/records/customer/${id}`, headers: p.auth })).json().data.customer_number, record.data.customer_number, 'even another record\'s number')

  // Both: found by id, and the ERP link now says E-2.
  const relinked = await post({ id, external_id: 'E-2', email_address: 'ada@example.com', first_name: 'Ada L.' })
  t.same([relinked.json().status, relinked.json().id], ['replaced', id])
  const links = (await p.app.inject({ url: `/v1/records/customer/${id}`, headers: p.auth })).json().links
  t.same(links.filter((l: { systemId: string }) => l.systemId === 'erp').map((l: { externalId: string }) => l.externalId), ['E-2'])
  t.equal((await post({ external_id: 'E-1', email_address: 'new@example.com' })).json().status, 'created', 'E-1 is no longer linked: a new record')
  // Only the link moves: the record changed, though its content did not.
  const moved = await post({ id, external_id: 'E-4', email_address: 'ada@example.com', first_name: 'Ada L.' })
  t.equal(moved.json().status, 'replaced', moved.body)
  t.equal((await p.app.inject({ url: '/v1/records/customer/by-link/erp/E-4', headers: p.auth })).json().id, id)
  t.equal((await post({ id, external_id: 'E-4', email_address: 'ada@example.com', first_name: 'Ada L.' })).json().status, 'unchanged', 'nothing moved this time')

  // The apiKey form of seed 002's script is an admin key too.
  const viaApiKey = await p.app.inject({ method: 'POST', url: '/v1/records/customer', headers: { authorization: `apiKey ${ADMIN_KEY}` }, payload: { email_address: 'k@example.com' } })
  t.equal(viaApiKey.json().status, 'created', viaApiKey.body)

  const unknown = await post({ id: '00000000-0000-4000-8000-000000000000', email_address: 'x@example.com' })
  t.equal(unknown.statusCode, 404)
  const invalid = await post({ external_id: 'E-9', email_address: 'not an email' })
  t.equal(invalid.statusCode, 400)
  t.match(invalid.json().error.message, /^email_address: /)
  // The hub's own number would make any customer valid: one that says nothing of who it is is refused.
  const unnamed = await post({ external_id: 'E-10', comment: 'only a comment' })
  t.equal(unnamed.statusCode, 400, unnamed.body)
  t.match(unnamed.json().error.message, 'needs at least one of customer_number, email_address, first_name, last_name, company')
  const nul = await post({ external_id: 'E-11', email_address: 'nul@example.com', first_name: 'a\u0000b', custom_fields: [{ custom_field_name: 'x', value: '\ud800' }] })
  t.equal(nul.statusCode, 400)
  t.equal(nul.json().error.message, 'first_name: contains a NUL character', 'a value the database cannot store is named, not left to its error')
  const surrogate = await post({ external_id: 'E-11', email_address: 'nul@example.com', custom_fields: [{ custom_field_name: 'x', value: '\ud800' }] })
  t.equal(surrogate.json().error.message, 'custom_fields[0].value: contains an unpaired surrogate (not valid Unicode)')
  const nullId = await post({ external_id: null, email_address: 'x@example.com' })
  t.equal(nullId.statusCode, 400)
  t.equal(nullId.json().error.message, 'external_id: expected number or string, received null', 'a wrong type says what was expected')
  const noSystem = await post({ external_id: 'E-9', first_name: 'X' }, '/v1/records/customer')
  t.equal(noSystem.statusCode, 400)
  t.match(noSystem.json().error.message, /^system: required/)
})

t.test('with neither id nor external_id, the key field finds the record: sent again, it is the same record', async t => {
  const p = await startPipeline(t, calm)
  const post = (payload: object) => p.app.inject({ method: 'POST', url: '/v1/records/customer', headers: p.auth, payload })
  const first = (await post({ email_address: 'plain@example.com' })).json()
  t.equal(first.status, 'created')
  t.same((await post({ email_address: 'plain@example.com' })).json(), { ...first, status: 'unchanged' }, 'a retried post')
  t.same((await post({ email_address: 'Plain@Example.com', first_name: 'Pat' })).json(), { ...first, status: 'replaced' }, 'matched whatever its case')
  const batch = await p.app.inject({ method: 'POST', url: '/v1/records/customer/batch', headers: p.auth, payload: [{ email_address: 'two@example.com', first_name: 'A' }, { email_address: 'two@example.com', first_name: 'B' }] })
  const [a, b] = batch.json().results
  t.same([a.status, b.status, a.id === b.id], ['created', 'replaced', true], 'one record, written in order')
  const { rows } = await p.hub.pool.query("SELECT data->>'first_name' AS name, count(*) OVER ()::int AS n FROM hub.records WHERE data->>'email_address' = 'two@example.com'")
  t.same(rows, [{ name: 'B', n: 1 }])
  await p.settled()
  t.same((await p.app.inject({ url: '/v1/errors', headers: p.auth })).json().errors, [], 'no link conflict at the CRM')
  t.same(p.crm.all('customer').map(c => c.email).sort(), ['Plain@Example.com', 'two@example.com'], 'one customer each, as last written')
})

t.test('a field removed by a replace stays at a destination that merges; a null clears it there', async t => {
  const p = await startPipeline(t, calm)
  const post = (payload: object) => p.app.inject({ method: 'POST', url: '/v1/records/customer?system=erp', headers: p.auth, payload })
  const notes = () => p.crm.all('customer').map(c => c.notes)
  t.equal((await post({ external_id: 'E-1', email_address: 'ada@example.com', first_name: 'Ada', comment: 'VIP' })).json().status, 'created')
  await p.settled()
  t.same(notes(), ['VIP'])
  // The CRM's update merges the fields it is sent, and a field the record no longer has is not sent.
  t.equal((await post({ external_id: 'E-1', email_address: 'ada@example.com', first_name: 'Ada L.' })).json().status, 'replaced')
  await p.settled()
  t.same(p.crm.all('customer').map(c => [c.firstName, c.notes]), [['Ada L.', 'VIP']])
  t.equal((await post({ external_id: 'E-1', email_address: 'ada@example.com', first_name: 'Ada L.', comment: null })).json().status, 'replaced')
  await p.settled()
  t.same(notes(), [null], 'a null is sent, and clears it')
})

t.test('a batch of 100 with 3 invalid items creates 97 and names the fields of 3', async t => {
  const p = await startPipeline(t, calm)
  const items: object[] = Array.from({ length: 100 }, (_, i) => ({ external_id: `B-${i}`, email_address: `b${i}@example.com`, first_name: `B${i}` }))
  items[10] = { external_id: 'B-10', email_address: 'broken' }
  items[50] = { external_id: 'B-50', first_name: 42 }
  items[99] = { external_id: { nested: true }, email_address: 'b99@example.com' }
  const res = await p.app.inject({ method: 'POST', url: '/v1/records/customer/batch?system=erp', headers: p.auth, payload: items })
  t.equal(res.statusCode, 200)
  const { results } = res.json()
  t.equal(results.length, 100)
  t.same(results.map((r: { index: number }) => r.index), items.map((_, i) => i), 'one result per item, in order')
  t.equal(results.filter((r: { status: string }) => r.status === 'created').length, 97)
  t.same(results.filter((r: { status: string }) => r.status === 'error').map((r: { index: number, errors: { field: string }[] }) => [r.index, r.errors[0].field]),
    [[10, 'email_address'], [50, 'first_name'], [99, 'external_id']])
  // Fanned out in the batch's transaction: one outbound job per created record, none to the origin.
  const { rows } = await p.hub.pool.query("SELECT data->>'system' AS system, count(*)::int AS n FROM pgboss.job WHERE name = 'outbound' GROUP BY 1")
  t.same(rows, [{ system: 'crm', n: 97 }])

  // An item refused for its id still answers with its own external_id.
  const badId = await p.app.inject({ method: 'POST', url: '/v1/records/customer/batch?system=erp', headers: p.auth, payload: [{ id: 'not-a-uuid', external_id: 'E-2', email_address: 'e2@example.com' }] })
  t.match(badId.json().results, [{ status: 'error', external_id: 'E-2', errors: [{ field: 'id' }] }])

  const tooMany = await p.app.inject({ method: 'POST', url: '/v1/records/customer/batch?system=erp', headers: p.auth, payload: Array.from({ length: 1001 }, () => ({})) })
  t.equal(tooMany.statusCode, 400)
})

t.test('a customer number given with a new customer is no other customer\'s, and the hub\'s own numbers skip those given', async t => {
  const p = await startPipeline(t, calm)
  const post = (payload: object) => p.app.inject({ method: 'POST', url: '/v1/records/customer?system=erp', headers: p.auth, payload })
  const numberOf = async (id: string) => (await p.app.inject({ url: `/v1/records/customer/${id}`, headers: p.auth })).json().data.customer_number
  const first = (await post({ external_id: 'N-1', email_address: 'n1@example.com' })).json()
  const taken = await numberOf(first.id)

  const clash = await post({ external_id: 'N-2', email_address: 'n2@example.com', customer_number: taken })
  t.equal(clash.statusCode, 409, clash.body)
  t.same(clash.json().error.details, [{ path: 'customer_number', message: `customer number ${taken} is already customer ${first.id}'s` }], 'naming the field and its holder')
  t.equal((await p.app.inject({ url: '/v1/records/customer/by-link/erp/N-2', headers: p.auth })).statusCode, 404, 'nothing was stored')

  t.equal((await post({ external_id: 'N-2b', email_address: 'n2b@example.com', customer_number: ` ${taken} ` })).statusCode, 409, 'with spaces around it too')
  const given = (await post({ external_id: 'N-3', email_address: 'n3@example.com', customer_number: 'C-77' })).json()
  t.equal(await numberOf(given.id), 'C-77', 'a free number is taken as given')
  const batch = (await p.app.inject({
    method: 'POST', url: '/v1/records/customer/batch?system=erp', headers: p.auth,
    payload: [{ external_id: 'N-4', email_address: 'n4@example.com', customer_number: 'C-78' }, { external_id: 'N-5', email_address: 'n5@example.com', customer_number: 'C-78' }, { external_id: 'N-6', email_address: 'n6@example.com', customer_number: 'C-77' }]
  })).json().results
  t.same(batch.map((r: { status: string, errors: Array<{ field: string }> }) => [r.status, r.errors[0]?.field]), [['created', undefined], ['error', 'customer_number'], ['error', 'customer_number']],
    'in one batch the first item takes a number; a second, or one holding it already, is refused')

  // The number the hub's sequence would give next, given by a source first: the hub skips it.
  const { rows: [{ next }] } = await p.hub.pool.query<{ next: string }>('SELECT (last_value + 1)::text AS next FROM hub.customer_number_seq')
  const early = (await post({ external_id: 'N-7', email_address: 'n7@example.com', customer_number: next })).json()
  t.equal(await numberOf(early.id), next)
  const numbered = (await post({ external_id: 'N-8', email_address: 'n8@example.com' })).json()
  t.not(await numberOf(numbered.id), next, 'the next new customer gets another number')
})

t.test('GET /v1/records/:type pages by cursor and filters', async t => {
  const p = await startPipeline(t, calm)
  const items = Array.from({ length: 5 }, (_, i) => ({ external_id: `L-${i}`, email_address: `list${i}@example.com` }))
  await p.app.inject({ method: 'POST', url: '/v1/records/customer/batch?system=erp', headers: p.auth, payload: items })
  await p.app.inject({ method: 'POST', url: '/v1/records/customer', headers: p.auth, payload: { email_address: 'other@example.com' } })
  await p.settled()

  const seen: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const res = await p.app.inject({ url: `/v1/records/customer?system=erp&limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: p.auth })
    t.equal(res.statusCode, 200)
    const body: { records: { data: { email_address: string } }[], nextCursor: string | null } = res.json()
    seen.push(...body.records.map(r => r.data.email_address))
    cursor = body.nextCursor
    pages++
  } while (cursor)
  t.same(seen.sort(), items.map(i => i.email_address).sort(), 'every record linked in the ERP, once')
  t.ok(pages >= 3)

  const notLinked = (await p.app.inject({ url: '/v1/records/customer?system=erp&linked=false', headers: p.auth })).json()
  t.same(notLinked.records.map((r: { data: { email_address: string } }) => r.data.email_address), ['other@example.com'])
  const q = (await p.app.inject({ url: '/v1/records/customer?q=LIST3', headers: p.auth })).json()
  t.same(q.records.map((r: { data: { email_address: string } }) => r.data.email_address), ['list3@example.com'])
  const later = (await p.app.inject({ url: `/v1/records/customer?updatedSince=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, headers: p.auth })).json()
  t.same(later.records, [])
  const bad = await p.app.inject({ url: '/v1/records/customer?cursor=nonsense', headers: p.auth })
  t.equal(bad.statusCode, 400)
  t.same(bad.json().error, { code: 'validation_failed', message: 'querystring.cursor: not a cursor this hub gave', details: [{ path: 'querystring.cursor', message: 'not a cursor this hub gave' }] },
    'named as the schema names a query field')
  const noSuchSystem = await p.app.inject({ url: '/v1/records/customer?system=nope', headers: p.auth })
  t.equal(noSuchSystem.statusCode, 400, 'an unknown system, as for a write')
  t.equal(noSuchSystem.json().error.message, 'querystring.system: no system nope is configured')
  const linkedAlone = await p.app.inject({ url: '/v1/records/customer?linked=false', headers: p.auth })
  t.equal(linkedAlone.statusCode, 400, 'linked=false means nothing without system')
  t.match(linkedAlone.json().error.message, /^querystring\.linked: needs system/)
})

t.test('an unknown field is refused, not dropped: a replace would lose the real one', async t => {
  const p = await startPipeline(t, calm)
  const post = (payload: object) => p.app.inject({ method: 'POST', url: '/v1/records/customer?system=erp', headers: p.auth, payload })
  const { id } = (await post({ external_id: 'D-1', email_address: 'd1@example.com', first_name: 'First' })).json()

  const typo = await post({ external_id: 'D-1', email_address: 'd1@example.com', First_Name: 'Third' })
  t.equal(typo.statusCode, 400, typo.body)
  t.same(typo.json().error.details, [{ path: 'First_Name', message: "'First_Name' is not a field of customer; did you mean 'first_name'?" }])
  const nested = await post({ external_id: 'D-1', email_address: 'd1@example.com', addresses: [{ citty: 'Oslo' }] })
  t.equal(nested.statusCode, 400, nested.body)
  t.same(nested.json().error.details.map((d: { path: string }) => d.path), ['addresses[0].citty'])
  t.match(nested.json().error.message, "did you mean 'addresses[0].city'?")
  const record = (await p.app.inject({ url: `/v1/records/customer/${id}`, headers: p.auth })).json()
  t.equal(record.data.first_name, 'First', 'the record is as it was')

  // Custom field names are the record's own: any name goes.
  const custom = await post({ external_id: 'D-1', email_address: 'd1@example.com', first_name: 'First', custom_fields: [{ custom_field_name: 'Any Name', value: 3 }] })
  t.equal(custom.json().status, 'replaced', custom.body)

  const batch = await p.app.inject({
    method: 'POST',
    url: '/v1/records/customer/batch?system=erp',
    headers: p.auth,
    payload: [{ external_id: 'D-2', email_address: 'd2@example.com' }, { external_id: 'D-1', email_address: 'd1@example.com', First_Name: 'Third' }]
  })
  const { results } = batch.json()
  t.equal(results[0].status, 'created', 'the other items still land')
  t.same([results[1].status, results[1].errors[0].field], ['error', 'First_Name'])
  t.match(results[1].errors[0].message, "did you mean 'first_name'?")
})
