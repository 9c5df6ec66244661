import t from 'tap'
import { canonicalSchemas, dataTypes, formatPath, validateCanonical } from '../src/models/index.ts'

const customer = {
  customer_number: 'C-1001',
  tracking_guid: '3fa85f64-5717-4562-b3fc-2c963f66afa6',
  first_name: 'Ada',
  last_name: 'Lovelace',
  email_address: 'ada@example.com',
  company: null,
  comment: 'VIP',
  categories: [{ id: '7', name: 'wholesale' }],
  addresses: [{
    id: 'a1',
    type: 'billing',
    phone_number: '+44 20 7946 0000',
    first_name: 'Ada',
    last_name: 'Lovelace',
    address_1: '12 St James Sq',
    address_2: null,
    city: 'London',
    region: null,
    country: 'GB',
    postal_code: 'SW1Y 4JH',
    is_primary_billing: true,
    is_primary_shipping: false,
    customer_id: 0,
    custom_fields: [{ custom_field_name: 'gate', value: '4' }],
    external_ids: [{ system_id: 'shop', external_id: '991' }]
  }],
  relationships: [{ type: 'parent', related_to_id: 'C-1', is_primary: true, start_date: '2024-01-01', end_date: null }],
  custom_fields: [{ id: 'cf1', type: 'bool', custom_field_name: 'accepts_marketing', value: true }],
  external_ids: [{ system_id: 'shop', external_id: '42', internal_id: 'h-1' }]
}

t.test('a realistic customer validates, and unknown keys are dropped', async (t) => {
  const r = validateCanonical('customer', customer)
  t.ok(r.ok)
  if (!r.ok) return
  t.equal(r.value.addresses?.[0].city, 'London')
  t.notOk('tracking_guid' in r.value, 'tracking_guid stripped')
  t.notOk('customer_id' in (r.value.addresses?.[0] ?? {}), 'address extras stripped')
})

const issuesOf = (type: typeof dataTypes[number], value: unknown) => {
  const r = validateCanonical(type, value)
  return r.ok ? [] : r.issues
}

t.test('customer errors carry dotted paths', async (t) => {
  t.same(issuesOf('customer', { ...customer, email_address: 'not-an-email' }).map((i) => i.path), ['email_address'])
  const bad = { ...customer, addresses: [customer.addresses[0], { ...customer.addresses[0], city: 12 }] }
  t.same(issuesOf('customer', bad), [{ path: 'addresses[1].city', message: 'Invalid input: expected string, received number' }])
  t.same(issuesOf('customer', { last_name: 'X', external_ids: [{ system_id: 'shop' }] }),
    [{ path: 'external_ids[0].external_id', message: 'required' }])
  t.same(issuesOf('customer', { last_name: 'X', categories: [{ id: '1' }] }), [{ path: 'categories[0].name', message: 'required' }])
  t.same(issuesOf('customer', { comment: 'only a comment' }).map((i) => i.path), [''], 'an empty customer is refused at the root')
  t.same(issuesOf('customer', 'nope').map((i) => i.path), [''])
})

t.test('numbers out of place are named in words, not in zod\'s types', async (t) => {
  const order = { number: 'O-1', lines: [{ sku: 'A', quantity: 1.5 }] }
  t.same(issuesOf('order', order), [{ path: 'lines[0].quantity', message: 'expected a whole number, received 1.5' }])
  // JSON's 1e400 is read as Infinity.
  t.same(issuesOf('order', { ...order, lines: [{ quantity: JSON.parse('1e400') }] }), [{ path: 'lines[0].quantity', message: 'expected number, received a number too large' }])
})

const product = {
  sku: 'TEE-1',
  name: 'T-shirt',
  description: null,
  price: 19.5,
  currency: 'EUR',
  quantity: -2,
  variants: [{ sku: 'TEE-1-S', name: 'Small', price: 19.5, quantity: 3 }],
  custom_fields: [{ custom_field_name: 'material', value: 'cotton' }]
}

t.test('product', async (t) => {
  t.ok(validateCanonical('product', product).ok)
  t.same(issuesOf('product', { name: 'x' }), [{ path: 'sku', message: 'required' }])
  t.same(issuesOf('product', { ...product, price: -1 }).map((i) => i.path), ['price'])
  t.same(issuesOf('product', { ...product, currency: 'eur' }),
    [{ path: 'currency', message: 'must be a 3-letter upper-case currency code' }])
  t.same(issuesOf('product', { ...product, variants: [{ sku: 'v', quantity: 1.5 }] }).map((i) => i.path), ['variants[0].quantity'])
})

const order = {
  number: '1001',
  customer_id: 'C-1001',
  status: 'paid',
  currency: 'EUR',
  lines: [{ sku: 'TEE-1', name: 'T-shirt', quantity: 2, price: 19.5 }, { name: 'Discount', quantity: 1, price: -5 }],
  totals: { subtotal: 34, tax: 6.46, shipping: 4.9, total: 45.36 },
  billing_address: customer.addresses[0],
  shipping_address: { city: 'Paris', country: 'FR' },
  custom_fields: []
}

t.test('order', async (t) => {
  t.ok(validateCanonical('order', order).ok)
  t.same(issuesOf('order', { ...order, number: undefined }), [{ path: 'number', message: 'required' }])
  t.same(issuesOf('order', { ...order, status: 'lost' }).map((i) => i.path), ['status'])
  t.same(issuesOf('order', { ...order, lines: [{ sku: 'a', quantity: 0 }] }).map((i) => i.path), ['lines[0].quantity'])
  t.same(issuesOf('order', { ...order, shipping_address: { city: ['x'] } }).map((i) => i.path), ['shipping_address.city'])
  t.same(issuesOf('order', { ...order, totals: { total: 'a lot' } }).map((i) => i.path), ['totals.total'])
})

t.test('every data type has a schema; formatPath', async (t) => {
  t.same(Object.keys(canonicalSchemas).sort(), [...dataTypes].sort())
  t.equal(formatPath(['addresses', 0, 'custom_fields', 2, 'value']), 'addresses[0].custom_fields[2].value')
  t.equal(formatPath([0, 'a']), '[0].a')
  t.equal(formatPath([]), '')
})
