// The dashboard in a real browser (Debian's chromium through playwright-core): sign-in, a manual
// sync from a CSV upload followed to the end, pasted ids in a debug batch (its rejected lines and
// traces), a record's lineage, a failed delivery retried once the sandbox CRM recovers, a poll
// run, and imports with their options and counts. Screenshots go to test/artifacts/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import t from 'tap'
import { startLedger } from '../sandbox/index.ts'
import { ADMIN_KEY } from './helpers/hub.ts'
import { startPipeline, waitFor } from './helpers/pipeline.ts'
import { ledgerDoc } from './helpers/poll.ts'

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url))
const readmeShot = fileURLToPath(new URL('../docs/dashboard.png', import.meta.url))

t.test('sign in, sync from a CSV, open a lineage, retry a failed delivery', async t => {
  const p = await startPipeline(t)
  // Only the manual sync brings these customers in: the shop's webhooks are off.
  p.shop.emitTo(null)
  const customers = ['Ada', 'Grace', 'Alan'].map(name => p.shop.put('customer', { email: `${name.toLowerCase()}@example.com`, first_name: name }))
  // The CRM refuses the first create for good (422): a final failure to replay.
  p.crm.failNext(1, 422, { method: 'POST', pathPrefix: '/customers' })

  await mkdir(artifacts, { recursive: true })
  const profile = await mkdtemp(join(tmpdir(), 'hub-chromium-'))
  t.teardown(() => rm(profile, { recursive: true, force: true }))
  // A new empty profile (playwright passes it as --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    // A narrow window: the dashboard must work on a phone-sized screen too.
    viewport: { width: 420, height: 900 }
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const shot = (name: string) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true })

  await page.goto(p.url + '/')
  await page.locator('#signin').waitFor()
  t.equal(await page.locator('#view').textContent(), '', 'no data before sign-in')
  await page.fill('#key', 'not-a-valid-admin-key-000')
  await page.click('#signin button')
  await page.getByText('That key is not valid.').waitFor()
  t.equal(await page.locator('#view').textContent(), '', 'no data with a wrong key')
  t.notOk(await page.locator('#nav').isVisible())
  await shot('1-signin')

  await page.fill('#key', ADMIN_KEY)
  await page.click('#signin button')
  await page.getByRole('heading', { name: 'Overview' }).waitFor()

  await page.goto(p.url + '/#sync')
  await page.locator('#sync-form').waitFor()
  t.equal(await page.inputValue('select[name=system]'), 'shop', 'the system chosen at first is one that can be fetched from (crm and erp have no inbound flow)')
  await page.fill('input[name=scope]', 'customer/create')
  // And an id the shop does not have: skipped, with why.
  await page.setInputFiles('input[name=file]', { name: 'ids.csv', mimeType: 'text/csv', buffer: Buffer.from('id\n' + customers.map(c => c.id).join('\n') + '\nno-such-id\n') })
  await page.click('#sync-form > button')
  await page.locator('#sync-progress').getByText(/finished$/).waitFor({ timeout: 60_000 })
  t.match(await page.locator('#sync-progress pre').textContent(), /"completed": 3/)
  t.match(await page.locator('#sync-skips').textContent(), /no-such-id\s*not found in shop \(404\)/, 'the skipped id with why')
  await shot('2-sync-finished')

  // Ids pasted (one twice, one a blank line of spaces), in a debug batch: the refused lines are
  // listed at once, numbered as pasted, and each trace is named by the id it fetched.
  const ids = customers.map(c => String(c.id))
  await page.reload()
  await page.locator('#sync-form').waitFor()
  await page.fill('textarea[name=ids]', [ids[0], ids[1], ids[1], '   ', ids[2]].join('\n'))
  await page.check('input[name=debug]')
  await page.click('#sync-form > button')
  await page.locator('#sync-progress').getByText(/finished$/).waitFor({ timeout: 60_000 })
  const cells = (rows: string) => page.locator(rows).evaluateAll(trs => trs.map(tr => [...(tr as HTMLTableRowElement).cells].map(td => td.textContent)))
  t.same(await cells('#sync-rejected tbody tr'), [['3', ids[1], 'duplicate of line 2'], ['4', '–', 'blank id']], 'the rejected lines, each with why')
  t.match(await page.locator('#sync-rejected').textContent(), /^2 lines rejected, not queued:/)
  const traces = await page.locator('#sync-progress p', { hasText: 'Debug traces:' }).locator('a')
    .evaluateAll(as => as.map(a => ({ text: a.textContent, title: a.getAttribute('title'), href: a.getAttribute('href') })))
  t.same(traces.map(x => x.text).sort(), [...ids].sort(), 'each debug trace is named by the id its job fetched')
  t.ok(traces.every(x => x.title === `job ${x.href!.replace('#job?id=', '')}`), 'the job id is in the title')
  await shot('2b-sync-debug')

  await page.goto(p.url + `/#records?type=customer&q=${customers[1].id}`)
  await page.locator('#view table a').first().click()
  await page.getByRole('heading', { name: 'History' }).waitFor()
  const lineage = await page.locator('#view').textContent()
  t.match(lineage, /shop/)
  t.match(lineage, /crm/, 'linked in the CRM')
  t.match(lineage, /created/)
  await shot('3-lineage')

  await page.goto(p.url + '/#errors')
  await page.locator('button.retry').waitFor()
  t.equal(await page.locator('button.retry').count(), 1, 'the one refused create')
  t.match(await page.locator('#view table').textContent(), /422/)
  await page.click('button.retry')
  await page.getByText(/retrying \(job/).waitFor()
  await waitFor(async () => {
    await page.goto(p.url + '/#errors?resolved=true')
    await page.reload()
    return await page.locator('#view td .good', { hasText: 'resolved' }).count() === 1
  }, 30_000, 'the error resolved in the dashboard')
  await shot('4-error-resolved')
  await page.goto(p.url + '/#errors')
  await page.reload()
  await page.locator('#error-filter').waitFor()
  t.equal(await page.inputValue('select[name=resolved]'), 'false', 'the page starts on open errors')
  t.equal(await page.locator('#view td .good', { hasText: 'resolved' }).count(), 0, 'and lists no resolved one')
  // A replay the hub does not take is said where its button was, not dropped unseen.
  await page.route('**/v1/errors/retry', route => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'the database is unavailable' } }) }))
  await page.getByRole('button', { name: 'Retry all matching' }).click()
  await page.locator('#view [role=alert]', { hasText: 'the database is unavailable' }).waitFor()
  await page.unroute('**/v1/errors/retry')
  t.equal(p.crm.all('customer').length, 3, 'every customer reached the CRM')

  // Polling and imports read their own APIs: the pages answer, without an error (the example
  // config polls nothing, and the page says what would).
  await page.goto(p.url + '/#poll')
  await page.getByRole('heading', { name: 'Polling' }).waitFor()
  await page.getByText(/^No system polls\. An inbound flow polls when it has poll/).waitFor()
  // A source that sends no webhooks: its poll run from the page, followed there as it ends.
  const ledger = await startLedger()
  t.teardown(() => ledger.close())
  ledger.put('L1', { email: 'lee@example.com', name: 'Lee' })
  const put = await fetch(`${p.url}/v1/systems/ledger`, { method: 'PUT', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(ledgerDoc('ledger', ledger.url)) })
  t.equal(put.status, 201, 'the ledger is added')
  await page.reload()
  await page.getByRole('heading', { name: 'ledger' }).waitFor()
  await page.getByRole('button', { name: 'Poll now' }).click()
  await page.getByText('started').waitFor()
  await page.locator('#view td', { hasText: /1 seen, 1 queued; complete$/ }).waitFor({ timeout: 30_000 })
  await shot('5-polling')
  await page.goto(p.url + '/#imports')
  await page.setInputFiles('#import-form input[name=file]', { name: 'c.csv', mimeType: 'text/csv', buffer: Buffer.from('email_address,first_name\nkay@example.com,Kay\n') })
  await page.click('#import-form button')
  await page.getByText(/^Import [0-9a-f-]{36} queued: 1 rows\.$/).waitFor()
  // The list follows the import to its end by itself, and the note stays.
  await page.locator('#view td', { hasText: 'finished' }).waitFor({ timeout: 30_000 })
  t.ok(await page.getByText(/^Import [0-9a-f-]{36} queued/).isVisible(), 'the note is still there')
  t.equal(await page.locator('#view .bad').count(), 0, 'no error shown')

  /** The newest import's cells (type to message) once it is finished, `n` imports listed. */
  const newest = async (n: number) => {
    const rows = page.locator('#view tbody tr')
    await waitFor(async () => await rows.count() === n && await rows.first().locator('td').nth(2).textContent() === 'finished', 30_000, `import ${n} finished`)
    return (await rows.first().locator('td').allTextContents()).slice(1)
  }
  const importFile = async (name: string, text: string) => {
    await page.setInputFiles('#import-form input[name=file]', { name, mimeType: 'text/csv', buffer: Buffer.from(text) })
    await page.click('#import-form button')
  }
  const alert = () => page.locator('#import-note [role=alert]').textContent()
  // The same row again: the record is there already, left alone (no override), so not written.
  await importFile('c.csv', 'email_address,first_name\nkay@example.com,Kay\n')
  t.same(await newest(2), ['customer', 'finished', '1', '0', '1', '0', ''], 'written 0, unchanged 1, as the CLI counts')
  // A file split by semicolons sent as comma-separated: every problem of the 400 is shown.
  const semicolons = 'email_address;first_name;last_name\nkay@example.com;Kayla;Lovelace\n'
  await importFile('s.csv', semicolons)
  await page.locator('#import-note [role=alert]').waitFor()
  t.match(await alert(), /is the file's delimiter ";"\? \(send delimiter=;\)/, "the API's hint")
  t.ok(await page.isDisabled('input[name=updateOnlyEmptyFields]'), 'only-empty is off without override')
  await page.selectOption('select[name=delimiter]', ';')
  await page.check('input[name=overrideExisting]')
  await page.check('input[name=updateOnlyEmptyFields]')
  await importFile('s.csv', semicolons)
  t.same(await newest(3), ['customer', 'finished', '1', '1', '0', '0', ''], 'written: the empty last name filled in')
  const listed = async () => (await (await fetch(`${p.url}/v1/imports`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json()).imports[0]
  t.same((await listed()).options, { delimiter: ';', key: 'email_address', overrideExisting: true, updateOnlyEmptyFields: true }, 'the options sent')
  const { rows: [kay] } = await p.hub.pool.query("SELECT data FROM hub.records WHERE type = 'customer' AND data->>'email_address' = 'kay@example.com'")
  t.match(kay.data, { first_name: 'Kay', last_name: 'Lovelace' }, 'only the empty field set')
  await page.uncheck('input[name=overrideExisting]')
  t.ok(await page.isDisabled('input[name=updateOnlyEmptyFields]') && !await page.isChecked('input[name=updateOnlyEmptyFields]'), 'and off again with it')
  await page.selectOption('select[name=type]', 'product')
  t.equal(await page.getAttribute('input[name=key]', 'placeholder'), 'sku', "the key's default for the type")
  await page.selectOption('select[name=type]', 'customer')
  await page.selectOption('select[name=delimiter]', ',')
  await page.fill('input[name=key]', 'sku')
  await importFile('k.csv', 'customer_number,first_name\nC-7,Kim\n')
  await page.locator('#import-note [role=alert]').waitFor()
  t.match(await alert(), /^key: /, "a key the type does not have: the API's 400")
  await page.fill('input[name=key]', 'customer_number')
  await importFile('k.csv', 'customer_number,first_name\nC-7,Kim\n')
  t.same(await newest(4), ['customer', 'finished', '1', '1', '0', '0', ''], 'a new customer, matched by customer_number')
  t.equal((await listed()).options.key, 'customer_number')
  t.equal(await page.locator('#view .bad').count(), 0, 'no error left shown')
  await shot('6-imports')

  await page.setViewportSize({ width: 1000, height: 800 })
  await page.goto(p.url + '/#overview')
  await page.getByRole('heading', { name: 'Systems' }).waitFor()
  await page.screenshot({ path: join(artifacts, '7-overview.png'), fullPage: true })
  // The README's picture is committed: replaced only when asked for.
  if (process.env.HUB_UPDATE_SCREENSHOTS) await page.screenshot({ path: readmeShot })
})
