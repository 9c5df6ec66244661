import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:net'
import { once } from 'node:events'
import pino from 'pino'
import { promisify } from 'node:util'
import t from 'tap'
import type { Test } from 'tap'
import { buildTestHub, ADMIN_KEY } from './helpers/hub.ts'
import type { TestHub } from './helpers/hub.ts'
import { startPipeline, waitFor } from './helpers/pipeline.ts'
import { startHubProcess } from './helpers/process.ts'
import { startWorkers } from '../src/workers.ts'
import { addChunk, createImport, markQueued, waitingImports } from '../src/imports/store.ts'
import type { ImportOptions } from '../src/imports/store.ts'
import { insertJobs } from '../src/pipeline/jobs.ts'
import { IMPORT } from '../src/queue/queues.ts'
import { loggerOptions } from '../src/logger.ts'

// A loaded test machine's event loop lag must not turn requests into 503s here.
const calm = { env: { HUB_MAX_EVENT_LOOP_DELAY_MS: '0' } }

// CSV imports (seed 002): uploaded into PostgreSQL, run by any worker a chunk at a time.

/** A multipart/form-data body as a client would send it. */
async function form (fields: Record<string, string>, csv?: string | Buffer) {
  const data = new FormData()
  for (const [k, v] of Object.entries(fields)) data.append(k, v)
  if (csv !== undefined) data.append('file', new Blob([csv as BlobPart]), 'import.csv')
  const request = new Request('http://hub/', { method: 'POST', body: data })
  return { headers: { 'content-type': request.headers.get('content-type') as string }, payload: Buffer.from(await request.arrayBuffer()) }
}

async function upload (h: TestHub, fields: Record<string, string>, csv?: string | Buffer) {
  const body = await form(fields, csv)
  return await h.app.inject({ method: 'POST', url: '/v1/imports', headers: { ...h.auth, ...body.headers }, payload: body.payload })
}

const finished = (h: TestHub, id: string, ms = 300_000) => waitFor(async () => {
  const res = await h.app.inject({ url: `/v1/imports/${id}`, headers: h.auth })
  return ['finished', 'error'].includes(res.json().status) && res.json()
}, ms, `import ${id} to finish`)

const customers = (n: number, from = 0) => ['email_address,first_name,addresses[0].city',
  ...Array.from({ length: n }, (_, i) => `c${from + i}@example.com,C${from + i},Town ${i}`)].join('\n')

t.test('an import writes its rows, reports bad ones by row, and fans every record out', async t => {
  const p = await startPipeline(t, calm)
  const lines = customers(600).split('\n')
  lines[5] = 'not-an-email,Bad,Town'
  // No key: it would be a new record each time the file is imported.
  lines[200] = ',Keyless,Town'
  // Blank rows (a spreadsheet's trailing `,,`, a line of spaces) are no records: skipped, as
  // empty lines are, and the rows are counted without them.
  lines.splice(400, 1, ',,', '  ')
  lines.push(',,', ' , ,')
  const res = await upload(p, { type: 'customer' }, lines.join('\n'))
  t.equal(res.statusCode, 202, res.body)
  const { id, total } = res.json()
  t.equal(total, 599)
  const done = await finished(p, id)
  t.match(done, { status: 'finished', total: 599, success: 597, unchanged: 0, errors: 2 })
  t.same(done.errorDetails.map((e: { row: number, field: string }) => [e.row, e.field]), [[6, 'email_address'], [201, 'email_address']])
  t.ok(done.startedAt && done.finishedAt)
  const { rows: [{ n }] } = await p.hub.pool.query("SELECT count(*)::int AS n FROM hub.records WHERE type = 'customer'")
  t.equal(n, 597)
  const city = await p.hub.pool.query("SELECT data->'addresses'->0->>'city' AS city FROM hub.records WHERE data->>'email_address' = 'c3@example.com'")
  t.equal(city.rows[0].city, 'Town 3', 'a path header fills the nested field')
  // Each record's fan-out was queued with its write: the CRM and the ERP, once each.
  const jobs = await p.hub.pool.query("SELECT data->>'system' AS system, count(*)::int AS n FROM pgboss.job WHERE name = 'outbound' GROUP BY 1 ORDER BY 1")
  t.same(jobs.rows, [{ system: 'crm', n: 597 }, { system: 'erp', n: 597 }])

  // The same file again: every record exists and is unchanged, so no outbound work.
  const again = await upload(p, { type: 'customer', overrideExisting: 'true' }, lines.join('\n'))
  t.match(await finished(p, again.json().id), { status: 'finished', success: 597, unchanged: 597, errors: 2 })
  const after = await p.hub.pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'outbound'")
  t.equal(after.rows[0].n, 2 * 597, 'unchanged rows queue nothing')
  t.equal((await p.hub.pool.query("SELECT count(*)::int AS n FROM hub.records WHERE type = 'customer'")).rows[0].n, 597, 'a second import of the file creates nothing')

  const list = (await p.app.inject({ url: '/v1/imports', headers: p.auth })).json().imports
  t.same(list.map((i: { id: string }) => i.id), [again.json().id, id], 'newest first')
  const del = await p.app.inject({ method: 'DELETE', url: `/v1/imports/${id}`, headers: p.auth })
  t.equal(del.statusCode, 204)
  t.equal((await p.app.inject({ url: `/v1/imports/${id}`, headers: p.auth })).statusCode, 404)
  t.equal((await p.hub.pool.query("SELECT count(*)::int AS n FROM hub.records WHERE type = 'customer'")).rows[0].n, 597, 'deleting an import keeps its records')
})

t.test("an import with system: rows are that system's records, mapped by its inbound flow and linked by their id", async t => {
  const p = await startPipeline(t, calm)
  const csv = 'id,email,first_name,last_name\nS-1,ann@example.com,Ann,Lee\nS-2,bo@example.com,Bo,\n'
  const res = await upload(p, { type: 'customer', system: 'shop' }, csv)
  t.equal(res.statusCode, 202, res.body)
  t.match(await finished(p, res.json().id), { status: 'finished', success: 2, errors: 0 })
  const { rows } = await p.hub.pool.query("SELECT l.external_id, r.data->>'email_address' AS email, r.data->>'last_name' AS last FROM hub.links l JOIN hub.records r ON r.id = l.record_id WHERE l.system_id = 'shop' ORDER BY 1")
  t.same(rows, [{ external_id: 'S-1', email: 'ann@example.com', last: 'Lee' }, { external_id: 'S-2', email: 'bo@example.com', last: null }])
  // The CRM is only a destination: it has no inbound flow to map rows with.
  const crm = await upload(p, { type: 'customer', system: 'crm' }, csv)
  t.equal(crm.statusCode, 400, crm.body)
  t.match(crm.json().error, { details: [{ path: 'system', message: 'crm has no enabled inbound flow for customer' }] })
})

/** A customer of the shop's (linked as S-1), through the records API; its hub id. */
async function shopCustomer (t: Test, h: Awaited<ReturnType<typeof startPipeline>>, fields: object): Promise<string> {
  const res = await h.app.inject({ method: 'POST', url: '/v1/records/customer', headers: h.auth, payload: { system: 'shop', external_id: 'S-1', ...fields } })
  t.equal(res.json().status, 'created', res.body)
  return res.json().id
}

t.test("an import with system and only some of the flow's columns keeps the fields its file does not have", async t => {
  const h = await startPipeline(t, calm)
  const seed = await shopCustomer(t, h, { email_address: 'ann@example.com', first_name: 'Ann', addresses: [{ city: 'Oslo' }], categories: [{ name: 'vip' }] })
  // The shop's flow maps addresses, tags and custom fields from columns this file lacks: each
  // comes out as an empty list, which is not given, as an empty cell is not.
  const res = await upload(h, { type: 'customer', system: 'shop', overrideExisting: 'true' }, 'id,email,first_name\nS-1,ann@example.com,Anna\n')
  t.match(await finished(h, res.json().id), { status: 'finished', success: 1, unchanged: 0 })
  const { rows: [{ data }] } = await h.hub.pool.query('SELECT data FROM hub.records WHERE id = $1', [seed])
  t.match(data, { first_name: 'Anna', addresses: [{ city: 'Oslo' }], categories: [{ name: 'vip' }] })
})

t.test("with system, the example flow's address flags stay as they are when the file has no kind column", async t => {
  const h = await startPipeline(t, calm)
  const seed = await shopCustomer(t, h, { email_address: 'ann@example.com', addresses: [{ city: 'Oslo', type: 'billing', is_primary_billing: true, is_primary_shipping: false }] })
  // `kind = "billing"` with no kind would be false, a value: it overwrote the record's true.
  const res = await upload(h, { type: 'customer', system: 'shop', overrideExisting: 'true' }, 'id,email,addresses[0].city\nS-1,ann@example.com,Bergen\n')
  t.match(await finished(h, res.json().id), { status: 'finished', success: 1 })
  const { rows: [{ data }] } = await h.hub.pool.query('SELECT data FROM hub.records WHERE id = $1', [seed])
  t.same(data.addresses, [{ city: 'Bergen', type: 'billing', is_primary_billing: true, is_primary_shipping: false }])
})

t.test("with system, a flow's null for a column the file lacks leaves the nested field as it is", async t => {
  const h = await startPipeline(t, calm)
  // A flow writing null where the source has no zip: the file below has none.
  await h.putSystem('shop', doc => {
    const flow = doc.flows.find((f: { type: string, direction: string }) => f.type === 'customer' && f.direction === 'inbound')
    flow.mappings = [...flow.mappings.filter((m: { to: string }) => m.to !== 'addresses'),
      { kind: 'expression', to: 'addresses', expression: '[{"city": city, "postal_code": $exists(zip) ? zip : null}, {"city": null}]' }]
  })
  const seed = await shopCustomer(t, h, { email_address: 'ann@example.com', addresses: [{ city: 'Oslo', postal_code: '0150' }, { city: 'Paris' }] })
  const res = await upload(h, { type: 'customer', system: 'shop', overrideExisting: 'true' }, 'id,email,city\nS-1,ann@example.com,Bergen\n')
  t.match(await finished(h, res.json().id), { status: 'finished', success: 1 })
  const { rows: [{ data }] } = await h.hub.pool.query('SELECT data FROM hub.records WHERE id = $1', [seed])
  t.same(data.addresses, [{ city: 'Bergen', postal_code: '0150' }, { city: 'Paris' }], 'the city replaced; the zip and the second address kept')
})

t.test('email addresses match their records whatever their case', async t => {
  const h = await buildTestHub(t, calm)
  const seed = await h.app.inject({ method: 'POST', url: '/v1/records/customer', headers: h.auth, payload: { email_address: 'ann@example.com', first_name: 'Ann' } })
  const count = async () => (await h.hub.pool.query('SELECT count(*)::int AS n FROM hub.records')).rows[0].n
  t.match(await finished(h, (await upload(h, { type: 'customer' }, 'email_address,first_name\nANN@Example.COM,Anna\n')).json().id), { success: 1, unchanged: 1 })
  t.equal(await count(), 1, 'found, and left alone without overrideExisting')
  // Two rows of one file differing only in case are one record, written in file order.
  const csv = 'email_address,first_name\nAnn@example.com,Anne\nann@EXAMPLE.com,Anna\nbo@example.com,Bo\nBO@example.com,Bob\n'
  t.match(await finished(h, (await upload(h, { type: 'customer', overrideExisting: 'true' }, csv)).json().id), { success: 4, errors: 0 })
  t.equal(await count(), 2)
  const { rows } = await h.hub.pool.query("SELECT id, data->>'email_address' AS email, data->>'first_name' AS name FROM hub.records ORDER BY created_at")
  t.same(rows.map(r => [r.email, r.name]), [['ann@EXAMPLE.com', 'Anna'], ['BO@example.com', 'Bob']], 'the later row is written last; the email is as the file gives it')
  t.equal(rows[0].id, seed.json().id)
})

t.test('overrideExisting and updateOnlyEmptyFields', async t => {
  const h = await buildTestHub(t, calm)
  const seed = await h.app.inject({ method: 'POST', url: '/v1/records/customer', headers: h.auth, payload: { email_address: 'ann@example.com', first_name: 'Ann' } })
  const recordId = seed.json().id
  const csv = 'email_address,first_name,last_name\nann@example.com,Anna,Lee\n'
  const data = async () => (await h.hub.pool.query('SELECT data FROM hub.records WHERE id = $1', [recordId])).rows[0].data

  t.match(await finished(h, (await upload(h, { type: 'customer' }, csv)).json().id), { success: 1, unchanged: 1 })
  t.match(await data(), { first_name: 'Ann' }, 'without overrideExisting an existing record is left alone')
  t.notOk((await data()).last_name)
  await finished(h, (await upload(h, { type: 'customer', overrideExisting: 'true', updateOnlyEmptyFields: 'true' }, csv)).json().id)
  t.match(await data(), { first_name: 'Ann', last_name: 'Lee' }, 'only the empty field was filled')
  await finished(h, (await upload(h, { type: 'customer', overrideExisting: 'true' }, 'email_address,first_name\nann@example.com,Anna\n')).json().id)
  t.match(await data(), { first_name: 'Anna', last_name: 'Lee' }, 'overridden; a column the file lacks is kept')
  const number = (await data()).customer_number
  t.ok(number)
  await finished(h, (await upload(h, { type: 'customer', overrideExisting: 'true' }, 'email_address,customer_number,first_name\nann@example.com,999,Ann\n')).json().id)
  t.match(await data(), { first_name: 'Ann', customer_number: number }, "the hub's own customer number is kept over one the file gives")
  t.equal((await h.hub.pool.query("SELECT count(*)::int AS n FROM hub.records")).rows[0].n, 1, 'matched by email_address, never duplicated')
})

t.test('overrideExisting and updateOnlyEmptyFields reach inside lists and objects: a column changes its own field only', async t => {
  const h = await buildTestHub(t, calm)
  await h.app.inject({
    method: 'POST', url: '/v1/records/customer', headers: h.auth,
    payload: { email_address: 'ann@example.com', addresses: [{ address_1: '1 Main St', city: 'Berlin' }, { city: 'Paris', country: 'FR' }], custom_fields: [{ custom_field_name: 'tier', value: 'gold' }] }
  })
  const data = async () => (await h.hub.pool.query('SELECT data FROM hub.records')).rows[0].data
  const patch = await upload(h, { type: 'customer', overrideExisting: 'true' }, 'email_address,addresses[0].city,custom_fields[0].value\nann@example.com,Hamburg,platinum\n')
  t.equal(patch.statusCode, 202, patch.body)
  await finished(h, patch.json().id)
  t.match(await data(), { addresses: [{ address_1: '1 Main St', city: 'Hamburg' }, { city: 'Paris', country: 'FR' }], custom_fields: [{ custom_field_name: 'tier', value: 'platinum' }] },
    "the first address's city changed; its street, the second address and the custom field's name are kept")
  const fill = await upload(h, { type: 'customer', overrideExisting: 'true', updateOnlyEmptyFields: 'true' }, 'email_address,addresses[0].city,addresses[0].country,addresses[1].city\nann@example.com,Munich,DE,Lyon\n')
  t.equal(fill.statusCode, 202, fill.body)
  await finished(h, fill.json().id)
  t.match(await data(), { addresses: [{ address_1: '1 Main St', city: 'Hamburg', country: 'DE' }, { city: 'Paris', country: 'FR' }] },
    'only the empty country was filled, inside a list that is not empty')
})

t.test("a row error names the row's line in the file, past blank lines and a cell spanning lines", async t => {
  const h = await buildTestHub(t, calm)
  const csv = 'email_address,first_name,comment\na@example.com,A,"two\nlines"\n\n,,\nnot-an-email,B,x\nc@example.com,C,y\n'
  const done = await finished(h, (await upload(h, { type: 'customer' }, csv)).json().id)
  t.match(done, { status: 'finished', total: 3, success: 2, errors: 1 })
  t.match(done.errorDetails, [{ row: 6, field: 'email_address' }], 'line 6: after a two-line cell, an empty line and a blank row')
  // csv-parse counts a Windows line break inside a quoted cell twice.
  const windows = await finished(h, (await upload(h, { type: 'customer' }, csv.replaceAll('\n', '\r\n'))).json().id)
  t.match(windows.errorDetails, [{ row: 6, field: 'email_address' }], 'the same file with Windows line breaks names the same line')
  const bad = await upload(h, { type: 'customer' }, 'email_address,first_name\n\na@example.com,A\u0000\n')
  t.match(bad.json().error.message, /^file: row 3, column 2: /, 'a cell refused at upload names its line too')
})

t.test('a row with several bad cells has each of them named, and counts as one row with errors', async t => {
  const h = await buildTestHub(t, calm)
  const csv = 'email_address,addresses[0].is_primary_billing\nnot-an-email,maybe\nb@example.com,true\n'
  const done = await finished(h, (await upload(h, { type: 'customer' }, csv)).json().id)
  t.match(done, { status: 'finished', total: 2, success: 1, errors: 1 })
  t.same(done.errorDetails.map((e: { row: number, field: string }) => [e.row, e.field]), [[2, 'email_address'], [2, 'addresses[0].is_primary_billing']])
})

t.test('a row with more cells than the header is refused by row; one with fewer has its missing cells empty', async t => {
  const h = await buildTestHub(t, calm)
  // A trailing delimiter is a cell too: it has no header, so it is refused like any other.
  const csv = 'email_address,first_name,last_name\na@example.com,A,Lee\nb@example.com,B,Lee,Extra\nc@example.com,C\nd@example.com,D,Lee,\n'
  const res = await upload(h, { type: 'customer' }, csv)
  t.equal(res.statusCode, 202, res.body)
  const done = await finished(h, res.json().id)
  t.match(done, { status: 'finished', total: 4, success: 2, errors: 2 })
  t.same(done.errorDetails, [
    { row: 3, field: 'column 4', message: 'row has 4 cells, the header has 3' },
    { row: 5, field: 'column 4', message: 'row has 4 cells, the header has 3' }
  ])
  const { rows } = await h.hub.pool.query("SELECT data->>'email_address' AS email, data->>'last_name' AS last FROM hub.records ORDER BY 1")
  t.same(rows, [{ email: 'a@example.com', last: 'Lee' }, { email: 'c@example.com', last: null }], 'the other rows landed')
})

t.test('an import whose run fails on its last attempt says so, and no longer counts as waiting', async t => {
  const h = await buildTestHub(t, calm)
  // Stored as no upload could store it now (a header no row can be written to), so its run fails.
  const id = await createImport(h.hub.pool, 'customer', { delimiter: ',', key: 'email_address', overrideExisting: false, updateOnlyEmptyFields: false } satisfies ImportOptions, ['email_address', 'addresses[-1].city'])
  await addChunk(h.hub.pool, id, 1, [['a@example.com', 'X']], [2])
  await markQueued(h.hub.pool, id, 1)
  await insertJobs(h.hub.boss, IMPORT, [{ data: { importId: id }, retryLimit: 0 }], h.hub.pool)
  const shown = await waitFor(async () => {
    const res = (await h.app.inject({ url: `/v1/imports/${id}`, headers: h.auth })).json()
    return res.status === 'error' ? res : undefined
  }, 30_000, 'the import to be marked failed')
  t.match(shown.message, /^the import failed: invalid path "addresses\[-1\]\.city"/)
  t.equal(await waitingImports(h.hub.pool), 0, 'it no longer holds a place among the 10 waiting')
  t.equal((await h.app.inject({ method: 'DELETE', url: `/v1/imports/${id}`, headers: h.auth })).statusCode, 204, 'and it can be deleted')
})

t.test('bad uploads: 400 naming the problem, 413 over 50 MB, 429 with 10 waiting, 409 deleting one not done', async t => {
  const h = await buildTestHub(t, { ...calm, workers: false })
  // A field's error names it in details; a file that cannot be read at all is a bad_request.
  const bad = async (fields: Record<string, string>, csv: string | undefined, pattern: RegExp, code = 'validation_failed') => {
    const res = await upload(h, fields, csv)
    t.equal(res.statusCode, 400, res.body)
    const { error } = res.json()
    t.match(error.message, pattern)
    t.match(error, code === 'validation_failed' ? { code, details: [{ path: error.message.split(':')[0] }] } : { code }, `code ${code}`)
  }
  await bad({ type: 'customer' }, 'email_adress,first_name\na@example.com,A\n', /^file: 'email_adress' is not a field of customer; did you mean 'email_address'/)
  await bad({ type: 'customer' }, 'colour\nred\n', /fields: .*email_address/)
  await bad({ type: 'customer' }, 'emial\na@example.com\n', /^file: 'emial' is not a field of customer; did you mean 'email_address'/)
  await bad({ type: 'customer' }, 'email_address,addresses[0].zip\na@example.com,1\n', /^file: 'addresses\[0\]\.zip' is not a field of customer; did you mean 'addresses\[0\]\.postal_code'\?/)
  // A path no row could be written to: refused here, where its rows once failed the job forever.
  // A list or an object takes no one cell: every row would fail on it.
  await bad({ type: 'customer' }, 'email_address,categories\na@example.com,vip\n', /^file: 'categories' is a list, and a cell holds one value: name a field of an element, such as 'categories\[0\]\.name'/)
  await bad({ type: 'customer' }, 'email_address,addresses[0]\na@example.com,X\n', /^file: 'addresses\[0\]' is an object, and a cell holds one value: name one of its fields/)
  await bad({ type: 'customer' }, 'email_address,addresses[-1].city\na@example.com,X\n', /^file: invalid path "addresses\[-1\]\.city": unexpected "\[-1\]\.city"/)
  await bad({ type: 'customer' }, 'email_address,addresses[99999999].city\na@example.com,X\n', /^file: invalid path "addresses\[99999999\]\.city": index 99999999 is above 9999/)
  const semicolons = await upload(h, { type: 'customer' }, 'email_address;first_name\na@example.com;A\n')
  t.match(semicolons.json().error.details, [{ path: 'file' }, { path: 'file', message: 'the header row has one column: is the file\'s delimiter ";"? (send delimiter=;)' }], 'a ; file sent without its delimiter gets a hint')
  await bad({ type: 'widget' }, 'email_address\na@example.com\n', /^type: /)
  await bad({ type: 'customer', delimiter: ';;' }, 'email_address\na@example.com\n', /^delimiter: /)
  await bad({ type: 'customer' }, '', /^file: empty/)
  await bad({ type: 'customer' }, 'email_address\n', /^file: no rows/)
  await bad({ type: 'customer' }, '"email_address\na@example.com\n', /^file: not a CSV/, 'bad_request')
  await bad({ type: 'customer' }, 'email_address,first_name\nb@example.com,Bo"b\n', /^file: not a CSV.*quote/i, 'bad_request')
  // A binary file (PNG signature, NUL bytes, a quote mid-field, bytes that are not UTF-8).
  const binary = Buffer.concat([Buffer.from('email_address\n'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x41, 0x22, 0xff, 0xfe, 0x0a, 0x00, 0x00])])
  for (const file of [binary, binary.subarray(14), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x22, 0x00, 0x0a, 0xde, 0xad])]) {
    const res = await upload(h, { type: 'customer' }, file)
    t.equal(res.statusCode, 400, `binary: ${res.body}`)
    t.match(res.json().error.message, /^file: /, 'names the file')
  }
  await bad({ type: 'customer' }, undefined, /^file: required/)
  // Without the file the fields are still checked (the CLI tries them so before an upload).
  await bad({ type: 'widget' }, undefined, /^type: /)
  await bad({ type: 'customer', key: 'nope' }, undefined, /^key: /)
  await bad({ type: 'customer', key: 'nope' }, 'email_address\na@example.com\n', /^key: /)
  // Latin-1 bytes (é, ü) are not UTF-8: refused, never stored as replacement characters.
  const latin1 = Buffer.from('email_address,first_name\na@example.com,Ren\xe9\n', 'latin1')
  await bad({ type: 'customer' }, latin1 as unknown as string, /^file: row 2, column 2: not UTF-8 text/)
  await bad({ type: 'customer' }, Buffer.from('email_address,pr\xe9nom\na@example.com,A\n', 'latin1') as unknown as string, /^file: the header, column 2: not UTF-8/)
  await bad({ type: 'customer', override: 'true' }, 'email_address\na@example.com\n', /^override: not a field of an import \(fields: type, delimiter, overrideExisting/)
  await bad({ type: 'customer', updateOnlyEmptyFields: 'true' }, 'email_address\na@example.com\n', /^updateOnlyEmptyFields: needs overrideExisting=true/)
  // A field after the file would be ignored; a second file is not an import's.
  const late = new FormData()
  late.append('type', 'customer')
  late.append('file', new Blob(['email_address\na@example.com\n']), 'a.csv')
  late.append('overrideExisting', 'true')
  const fileFirst = new FormData()
  fileFirst.append('file', new Blob(['email_address\na@example.com\n']), 'a.csv')
  fileFirst.append('type', 'customer')
  const twice = new FormData()
  twice.append('type', 'customer')
  for (const name of ['a.csv', 'b.csv']) twice.append('file', new Blob(['email_address\na@example.com\n']), name)
  for (const [data, pattern] of [[late, /^overrideExisting: must come before the file part/], [fileFirst, /^type: required, before the file part/], [twice, /^file: only one file part/]] as const) {
    const request = new Request('http://hub/', { method: 'POST', body: data })
    const res = await h.app.inject({ method: 'POST', url: '/v1/imports', headers: { ...h.auth, 'content-type': request.headers.get('content-type')! }, payload: Buffer.from(await request.arrayBuffer()) })
    t.equal(res.statusCode, 400, res.body)
    t.match(res.json().error, { code: 'validation_failed', message: pattern })
  }
  // A CSV sent as the body itself is told the type this route reads.
  const bare = await h.app.inject({ method: 'POST', url: '/v1/imports', headers: { ...h.auth, 'content-type': 'text/csv' }, payload: 'email_address\na@example.com\n' })
  t.equal(bare.statusCode, 415)
  t.same(bare.json().error, { code: 'unsupported_media_type', message: 'unsupported Content-Type: send multipart/form-data' })
  t.equal((await h.hub.pool.query('SELECT count(*)::int AS n FROM hub.imports')).rows[0].n, 0, 'nothing stored for a rejected upload')

  // Long rows, so the file crosses 50 MB in a few hundred rows.
  const line = 'x'.repeat(60_000) + '@example.com\n'
  const huge = Buffer.from('email_address\n' + line.repeat(Math.ceil(51 * 1024 * 1024 / line.length)))
  const tooBig = await upload(h, { type: 'customer' }, huge)
  t.equal(tooBig.statusCode, 413)

  const ids: string[] = []
  for (let i = 0; i < 10; i++) ids.push((await upload(h, { type: 'customer' }, customers(1, i))).json().id)
  const eleventh = await upload(h, { type: 'customer' }, customers(1, 10))
  t.equal(eleventh.statusCode, 429)
  t.match(eleventh.json().error.message, /10 imports are waiting/)
  const running = await h.app.inject({ method: 'DELETE', url: `/v1/imports/${ids[0]}`, headers: h.auth })
  t.equal(running.statusCode, 409)
  t.match(running.json().error.message, /is queued/)
})

t.test("a worker killed mid-import: another finishes it, no row written twice", async t => {
  const api = await buildTestHub(t, { ...calm, workers: false })
  const res = await upload(api, { type: 'customer' }, customers(2_000))
  const { id } = res.json()
  const worker = await startHubProcess(t, { DATABASE_URL: api.databaseUrl, HUB_ROLE: 'worker' })
  await waitFor(async () => (await api.hub.pool.query('SELECT success FROM hub.imports WHERE id = $1', [id])).rows[0].success > 0, 60_000, 'a first chunk')
  worker.child.kill('SIGKILL')
  await new Promise(resolve => worker.child.once('exit', resolve))
  const atKill = (await api.hub.pool.query('SELECT status, success FROM hub.imports WHERE id = $1', [id])).rows[0]
  t.equal(atKill.status, 'processing', `killed with ${atKill.success} rows of 2000 written`)

  const workers = await startWorkers(api.hub)
  t.teardown(() => workers.stop())
  t.match(await finished(api, id, 300_000), { status: 'finished', total: 2_000, success: 2_000, errors: 0 })
  const counts = await api.hub.pool.query("SELECT (SELECT count(*)::int FROM hub.records) AS records, (SELECT count(*)::int FROM hub.history WHERE action = 'import') AS writes")
  t.same(counts.rows[0], { records: 2_000, writes: 2_000 }, 'each row written exactly once')
})

/** A hub without workers, one import uploaded, and its first chunk held by another transaction: the worker started later waits on it. */
async function firstChunkHeld (t: Test, csv: string, fields: Record<string, string> = {}, setUp?: (h: TestHub) => Promise<void>) {
  const h = await buildTestHub(t, { ...calm, workers: false })
  await setUp?.(h)
  const { id } = (await upload(h, { type: 'customer', ...fields }, csv)).json()
  const holder = await h.hub.pool.connect()
  await holder.query('BEGIN')
  await holder.query('SELECT 1 FROM hub.import_chunks WHERE import_id = $1 AND n = 1 FOR UPDATE', [id])
  const release = async () => { await holder.query('ROLLBACK'); holder.release() }
  const workers = await startWorkers(h.hub)
  t.teardown(() => workers.stop())
  await waitFor(async () => (await h.hub.pool.query('SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted')).rows[0].n > 0, 60_000, 'the first chunk waiting')
  return { h, id, release, workers }
}

t.test('a worker stopping mid-import ends it after the chunks in flight and queues the rest; the next worker finishes it', async t => {
  const { h, id, release, workers } = await firstChunkHeld(t, customers(3_000))
  const stopped = workers.stop()
  await release()
  await stopped
  const atStop = (await h.hub.pool.query('SELECT status, success FROM hub.imports WHERE id = $1', [id])).rows[0]
  t.equal(atStop.status, 'processing', `stopped with ${atStop.success} of 3000 rows written`)
  t.ok(atStop.success < 3_000)
  const jobs = await h.hub.pool.query("SELECT state::text AS state FROM pgboss.job WHERE name = 'import' ORDER BY created_on")
  const states = jobs.rows.map(j => j.state)
  // (The stopping worker may take the new job before its fetch loop ends, and hand it back at
  // once in its turn: one more completed run, still no retry spent.)
  t.same(states.at(-1), 'created', 'the rest queued as a new job')
  t.same(states.slice(0, -1).filter(s => s !== 'completed'), [], 'every run before it ended, none failed (no retry spent)')
  const next = await startWorkers(h.hub)
  t.teardown(() => next.stop())
  t.match(await finished(h, id), { status: 'finished', total: 3_000, success: 3_000, errors: 0 })
  t.equal((await h.hub.pool.query('SELECT count(*)::int AS n FROM hub.records')).rows[0].n, 3_000, 'each row written once')
})

t.test("an import whose system is removed mid-run ends in error: its rows can be neither mapped nor linked", async t => {
  const legacy = {
    id: 'legacy',
    baseUrl: 'http://127.0.0.1:9',
    allowPrivateNetwork: true,
    types: { customer: { get: { path: '/customers/{id}' } } },
    flows: [{ type: 'customer', direction: 'inbound', mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] }]
  }
  const csv = ['id,email', ...Array.from({ length: 3_000 }, (_, i) => `L-${i},l${i}@example.com`)].join('\n')
  const { h, id, release } = await firstChunkHeld(t, csv, { system: 'legacy' }, async h => {
    const res = await h.app.inject({ method: 'PUT', url: '/v1/systems/legacy', headers: h.auth, payload: legacy })
    t.equal(res.statusCode < 300, true, res.body)
  })
  t.equal((await h.app.inject({ method: 'DELETE', url: '/v1/systems/legacy', headers: h.auth })).statusCode, 204)
  await release()
  const done = await finished(h, id)
  t.match(done, { status: 'error', message: 'system legacy is no longer configured' })
  t.ok(done.success < 3_000, `stopped after ${done.success} rows (the chunks in flight)`)
})

t.test('a chunk runs while the one before it waits: both land, counted once', async t => {
  const { h, id, release } = await firstChunkHeld(t, customers(1_000))
  await waitFor(async () => (await h.hub.pool.query('SELECT success FROM hub.imports WHERE id = $1', [id])).rows[0].success === 500, 60_000, 'the second chunk committed')
  await release()
  t.match(await finished(h, id), { status: 'finished', total: 1_000, success: 1_000, errors: 0 })
  const counts = await h.hub.pool.query("SELECT (SELECT count(*)::int FROM hub.records) AS records, (SELECT count(*)::int FROM hub.history WHERE action = 'import') AS writes")
  t.same(counts.rows[0], { records: 1_000, writes: 1_000 })
})

t.test('two rows for one record in neighbouring chunks: the later row is written last', async t => {
  const lines = customers(1_000).split('\n')
  lines[10] = 'twice@example.com,Earlier,Town'
  lines[600] = 'twice@example.com,Later,Town'
  const { h, id, release } = await firstChunkHeld(t, lines.join('\n'), { overrideExisting: 'true' })
  // Long enough for the second chunk to commit, were it not waiting for the first.
  await new Promise(resolve => setTimeout(resolve, 500))
  await release()
  t.match(await finished(h, id), { status: 'finished', success: 1_000, errors: 0 })
  const { rows } = await h.hub.pool.query("SELECT data->>'first_name' AS name FROM hub.records WHERE data->>'email_address' = 'twice@example.com'")
  t.same(rows, [{ name: 'Later' }])
})

t.test('an upload cut short by its client keeps nothing and is logged as the client going away', async t => {
  let logged = ''
  const log = pino(loggerOptions('info'), { write: (line: string) => { logged += line } })
  const h = await buildTestHub(t, { ...calm, listen: true, log, workers: false })
  const boundary = 'cut-short'
  const head = `--${boundary}\r\ncontent-disposition: form-data; name="type"\r\n\r\ncustomer\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="a.csv"\r\n\r\nemail_address\r\n`
  const socket = connect(Number(new URL(h.url).port), '127.0.0.1')
  await once(socket, 'connect')
  socket.write(`POST /v1/imports HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${h.auth.authorization}\r\ncontent-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: 10000000\r\n\r\n${head}`)
  for (let i = 0; i < 2_000; i++) socket.write(`c${i}@example.com\r\n`)
  // The upload's transaction has stored a chunk (nothing of it is visible before it commits).
  await waitFor(async () => (await h.hub.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'INSERT INTO hub.import_chunks%'")).rows[0].n === 1, 20_000, 'the upload to start')
  socket.destroy()
  await waitFor(() => /the client went away/.test(logged), 20_000, 'the log line')
  t.notMatch(logged, /database is unavailable/)
  await waitFor(async () => (await h.hub.pool.query('SELECT count(*)::int AS n FROM hub.imports')).rows[0].n === 0, 20_000, 'nothing kept')
})

t.test("seed 002's own script uploads, polls and sees finished", async t => {
  const h = await buildTestHub(t, { ...calm, listen: true })
  const dir = await mkdtemp(join(tmpdir(), 'hub-import-'))
  const file = join(dir, 'contacts.csv')
  await writeFile(file, customers(20))
  const { stdout } = await promisify(execFile)(process.execPath, [new URL('./fixtures/seed-002-import.cjs', import.meta.url).pathname],
    { env: { PATH: process.env.PATH, HUB_URL: h.url, API_KEY: ADMIN_KEY, FILE_PATH: file }, timeout: 120_000 })
  t.match(stdout, /completed 20 of 20/)
  t.match(stdout, /Success/)
})
