// The dashboard in a real browser (Debian's chromium through playwright-core): sign-in, a manual
// sync from a CSV upload followed to the end, a record's lineage, and a failed delivery retried
// once the sandbox CRM recovers. Screenshots go to test/artifacts/.
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
  await shot('6-imports')

  await page.setViewportSize({ width: 1000, height: 800 })
  await page.goto(p.url + '/#overview')
  await page.getByRole('heading', { name: 'Systems' }).waitFor()
  await page.screenshot({ path: join(artifacts, '7-overview.png'), fullPage: true })
  // The README's picture is committed: replaced only when asked for.
  if (process.env.HUB_UPDATE_SCREENSHOTS) await page.screenshot({ path: readmeShot })
})
