import t from 'tap'
import { startPipeline } from './helpers/pipeline.ts'

const customer = {
  email: 'ada@example.com',
  first_name: 'Ada',
  last_name: 'Lovelace',
  company: 'Analytical Engines',
  phone: '+44 20 1234',
  note: 'VIP',
  tags: ['vip', 'newsletter'],
  accepts_marketing: true,
  addresses: [{ id: 'a1', kind: 'billing', line1: '12 St James Sq', city: 'London', zip: 'SW1Y', country: 'GB' }]
}

t.test('a customer created in the shop reaches the CRM and the ERP, mapped and linked', async t => {
  const p = await startPipeline(t)
  const created = p.shop.put('customer', customer)
  await p.shop.flushWebhooks()
  await p.settled()

  const [crm] = p.crm.all('customer')
  t.ok(crm, 'the CRM has the customer')
  t.match(crm, { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', notes: 'VIP', subscribed: true })
  const [erp] = p.erp.all('customer')
  t.match(erp, { name: 'Ada Lovelace', email: 'ada@example.com', billing: { street: '12 St James Sq', city: 'London', zip: 'SW1Y', country: 'GB' }, tags: ['vip', 'newsletter'] })

  const res = await p.app.inject({ url: `/v1/records/customer/by-link/shop/${created.id}`, headers: p.auth })
  t.equal(res.statusCode, 200)
  const record = res.json()
  t.equal(crm.externalId, record.data.customer_number, "the CRM's externalId carries our customer number")
  t.equal(erp.customerNo, record.data.customer_number)
  t.same(record.links.map((l: { systemId: string, externalId: string }) => [l.systemId, l.externalId]).sort(),
    [['crm', crm.id], ['erp', erp.id], ['shop', created.id]], 'links recorded for all three systems')
  t.match(record.history, [
    { systemId: 'shop', direction: 'inbound', outcome: 'created' }
  ])
  t.ok(record.history.some((h: { systemId: string, outcome: string }) => h.systemId === 'crm' && h.outcome === 'created'))
  t.ok(record.history.some((h: { systemId: string, outcome: string }) => h.systemId === 'erp' && h.outcome === 'created'))
})
