import t from 'tap'
import { applyMappings, checkRequired, getPath, MappingError, parsePath, passesFilter, setPath } from '../src/mapping/map.ts'
import { compile, evaluate } from '../src/mapping/jsonata.ts'
import { targetProblem } from '../src/mapping/fields.ts'
import { customerSchema, orderSchema } from '../src/models/index.ts'
import { z } from 'zod'
import type { Mapping } from '../src/config/systems.ts'

const shopCustomer = {
  id: 42,
  email: 'ada@example.com',
  first_name: 'Ada',
  last_name: 'Lovelace',
  note: null,
  tags: ['vip', 'wholesale'],
  addresses: [{ id: 1, kind: 'billing', line1: '12 St James Sq', city: 'London', zip: 'SW1Y', country: 'GB' }]
}

t.test('paths', async (t) => {
  t.same(parsePath('addresses[0].city'), ['addresses', 0, 'city'])
  t.same(parsePath('a.b[1][2].c'), ['a', 'b', 1, 2, 'c'])
  t.same(parsePath('[3]'), [3])
  t.same(parsePath(''), [])
  for (const bad of ['a..b', '.a', 'a.', 'a[x]', 'a[0]b', 'a.[0]', 'a.__proto__.b', 'constructor', 'a[10000]']) {
    t.throws(() => parsePath(bad), `${bad} is refused`)
  }
  t.equal(getPath(shopCustomer, 'addresses[0].city'), 'London')
  t.equal(getPath(shopCustomer, 'addresses.0.city'), 'London', 'numeric segment indexes arrays')
  t.equal(getPath(shopCustomer, 'addresses[1].city'), undefined)
  t.equal(getPath(shopCustomer, 'email.length'), undefined, 'no properties of primitives')
  t.equal(getPath(shopCustomer, 'toString'), undefined, 'no inherited properties')
  t.equal(getPath(shopCustomer, ''), shopCustomer)
  t.equal(getPath(null, 'a'), undefined)

  const out: Record<string, unknown> = {}
  setPath(out, 'billing.street', 'x')
  setPath(out, 'addresses[1].city', 'Paris')
  setPath(out, 'addresses[1].lines[0]', 'l1')
  t.same(out, { billing: { street: 'x' }, addresses: [undefined, { city: 'Paris', lines: ['l1'] }] })
  t.throws(() => setPath(out, 'billing.street.name', 'y'), { message: 'cannot set billing.street.name: billing.street is a string' })
  t.throws(() => setPath(out, 'billing[0]', 'y'), { message: 'cannot set billing[0]: billing is not an array' })
  t.throws(() => setPath(out, '', 1))
})

t.test('all three mapping kinds, with nested targets', async (t) => {
  const mappings: Mapping[] = [
    { kind: 'field', from: 'email', to: 'email_address' },
    { kind: 'field', from: 'note', to: 'comment' },
    { kind: 'field', from: 'missing', to: 'company' },
    { kind: 'field', from: 'addresses[0].city', to: 'addresses[0].city' },
    { kind: 'field', from: 'addresses[0].zip', to: 'addresses[0].postal_code' },
    { kind: 'static', value: { source: 'shop', tags: ['a'] }, to: 'meta.origin' },
    { kind: 'static', value: null, to: 'meta.cleared' },
    { kind: 'expression', expression: '$string(id)', to: 'customer_number' },
    { kind: 'expression', expression: '[tags.{"name": $}]', to: 'categories' },
    { kind: 'expression', expression: 'nothing.here', to: 'unset' }
  ]
  const out = await applyMappings(mappings, shopCustomer)
  t.strictSame(out, {
    email_address: 'ada@example.com',
    comment: null,
    addresses: [{ city: 'London', postal_code: 'SW1Y' }],
    meta: { origin: { source: 'shop', tags: ['a'] }, cleared: null },
    customer_number: '42',
    categories: [{ name: 'vip' }, { name: 'wholesale' }]
  })
  t.notOk('company' in out, 'a missing source field is not set')
  t.notOk('unset' in out, 'an expression with no result is not set')

  // Outputs share nothing with the mapping or the source.
  const again = await applyMappings(mappings, shopCustomer)
  ;(again.meta as { origin: { tags: string[] } }).origin.tags.push('b')
  t.same(getPath(mappings[5], 'value.tags'), ['a'])
  const copy = await applyMappings([{ kind: 'field', from: 'addresses[0]', to: 'billing' }, { kind: 'static', value: 'X', to: 'billing.city' }], shopCustomer)
  t.equal((copy.billing as { city: string }).city, 'X')
  t.equal(shopCustomer.addresses[0].city, 'London', 'the source is untouched')
  t.notOk(Object.hasOwn(out.categories as object, 'sequence'), 'JSONata sequence flags are dropped')
})

t.test('expressions see bindings', async (t) => {
  const out = await applyMappings([{ kind: 'expression', expression: '$system & ":" & $string(id)', to: 'ref' }], { id: 1 }, { system: 'shop' })
  t.same(out, { ref: 'shop:1' })
})

t.test('a failing mapping becomes a MappingError naming its field', async (t) => {
  const err = await applyMappings([
    { kind: 'field', from: 'email', to: 'email' },
    { kind: 'expression', expression: '$number(email) + 1', to: 'billing.score' }
  ], shopCustomer).catch((e: unknown) => e)
  t.ok(err instanceof MappingError)
  t.equal((err as MappingError).field, 'billing.score')
  t.match((err as MappingError).message, /^mapping to billing\.score failed: Unable to cast value to a number/)

  const clash = await applyMappings([
    { kind: 'field', from: 'email', to: 'contact' },
    { kind: 'field', from: 'first_name', to: 'contact.first' }
  ], shopCustomer).catch((e: unknown) => e)
  t.equal((clash as MappingError).field, 'contact.first')
})

t.test('filters', async (t) => {
  t.equal(await passesFilter({}, shopCustomer), true, 'no filter passes everything')
  t.equal(await passesFilter({ filter: 'email = "ada@example.com"' }, shopCustomer), true)
  t.equal(await passesFilter({ filter: '$exists(company)' }, shopCustomer), false)
  t.equal(await passesFilter({ filter: 'tags[$ = "vip"]' }, shopCustomer), true)
  t.equal(await passesFilter({ filter: 'tags[$ = "retail"]' }, shopCustomer), false, 'no match is falsy')
  t.equal(await passesFilter({ filter: '[]' }, shopCustomer), false, 'empty array is falsy (as in JSONata)')
  t.equal(await passesFilter({ filter: '""' }, shopCustomer), false)
  t.equal(await passesFilter({ filter: '{}' }, shopCustomer), false)
  t.equal(await passesFilter({ filter: '[0, 1]' }, shopCustomer), true)
  const err = await passesFilter({ filter: '$number(email)' }, shopCustomer).catch((e: unknown) => e)
  t.ok(err instanceof MappingError)
  t.equal((err as MappingError).field, 'filter')
})

t.test('required', async (t) => {
  const mapped = { email: 'a@b.c', name: '  ', tags: [], billing: { city: 'X', zip: null } }
  t.same(checkRequired(['email', 'name', 'tags', 'billing.city', 'billing.zip', 'phone'], mapped), ['name', 'tags', 'billing.zip', 'phone'])
  t.same(checkRequired(undefined, mapped), [])
})

t.test('jsonata cache and errors', async (t) => {
  t.equal(compile('a + 1'), compile('a + 1'), 'compiled once')
  t.throws(() => compile('foo('), { message: /Expected "\)" before end of expression \(S0203 at position 4\)/ })
  t.equal(await evaluate('a + b', { a: 1 }, { }), undefined)
  t.equal(await evaluate('a + $b', { a: 1 }, { b: 2 }), 3)
})

t.test('mapping targets are checked against the canonical model', async (t) => {
  const customer = (path: string) => targetProblem(customerSchema, 'customer', path)
  for (const ok of ['email_address', 'addresses', 'addresses[0].city', 'addresses[2].custom_fields[0].value', 'categories[0].name', 'custom_fields']) {
    t.equal(customer(ok), undefined, `${ok} is a field`)
  }
  t.equal(customer('email_adress'), "'email_adress' is not a field of customer; did you mean 'email_address'?")
  t.equal(customer('addresses[0].citty'), "'addresses[0].citty' is not a field of customer; did you mean 'addresses[0].city'?")
  t.equal(customer('phone'), "'phone' is not a field of customer (fields: customer_number, first_name, last_name, email_address, company, comment, categories, addresses, relationships, custom_fields, external_ids)")
  // Other systems' names for a field lead to it where it is a field, whatever their case and separators.
  t.equal(customer('addresses[0].mobile'), "'addresses[0].mobile' is not a field of customer; did you mean 'addresses[0].phone_number'?")
  t.equal(customer('addresses[1].ZIP-Code'), "'addresses[1].ZIP-Code' is not a field of customer; did you mean 'addresses[1].postal_code'?")
  t.equal(customer('Surname'), "'Surname' is not a field of customer; did you mean 'last_name'?")
  t.match(customer('addresses[0].colour'), /^'addresses\[0\]\.colour' is not a field of customer \(fields of addresses\[0\]: id, type, phone_number, /)
  t.equal(customer('addresses.city'), "'addresses.city': addresses is a list; write addresses[0].city (or [1], …)")
  t.equal(customer('first_name[0]'), "'first_name[0]': first_name is not a list")
  t.equal(customer('email_address.domain'), "'email_address.domain': email_address is a single value and has no fields")
  t.equal(customer('a..b'), undefined, 'bad syntax is left to the path check')
  t.equal(targetProblem(orderSchema, 'order', 'totals.totl'), "'totals.totl' is not a field of order; did you mean 'totals.total'?")
  t.equal(targetProblem(orderSchema, 'order', 'shipping_address.postal_code'), undefined, 'nested objects')

  // Models that allow arbitrary keys (records, loose objects) accept any key there.
  const open = z.object({ attrs: z.record(z.string(), z.object({ v: z.string() })).nullish(), extra: z.looseObject({ known: z.string() }), any: z.unknown() })
  t.equal(targetProblem(open, 'm', 'attrs.color.v'), undefined)
  t.equal(targetProblem(open, 'm', 'attrs.color.w'), "'attrs.color.w' is not a field of m; did you mean 'attrs.color.v'?")
  t.equal(targetProblem(open, 'm', 'extra.anything'), undefined)
  t.equal(targetProblem(open, 'm', 'any.deep[3].path'), undefined)
})
