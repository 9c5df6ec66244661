import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import { ConfigError, loadSystemsFile, parseSystem, parseSystems, redactDocument, substituteEnv } from '../src/config/load.ts'
import type { SystemConfig } from '../src/config/systems.ts'
import { applyMappings, checkRequired, passesFilter } from '../src/mapping/map.ts'
import { evaluate } from '../src/mapping/jsonata.ts'
import { validateCanonical } from '../src/models/index.ts'
import { buildTestHub } from './helpers/hub.ts'
import { runHubExpectingExit } from './helpers/process.ts'

const example = fileURLToPath(new URL('../examples/hub.config.yaml', import.meta.url))
const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64')
const env = {
  SHOP_URL: 'http://127.0.0.1:4001/',
  SHOP_TOKEN: 'shop-token-123',
  SHOP_WEBHOOK_KEY: 'shop-webhook-key-0123456789',
  SHOP_WEBHOOK_SECRET: secret,
  CRM_URL: 'http://127.0.0.1:4002',
  CRM_API_KEY: 'crm-api-key',
  ERP_URL: 'https://erp.example.test/base',
  ERP_USER: 'hub',
  ERP_PASSWORD: 'erp-password'
}

const tmp = await mkdtemp(join(tmpdir(), 'hub-config-'))
t.teardown(() => rm(tmp, { recursive: true, force: true }))

const byId = (systems: SystemConfig[], id: string) => {
  const s = systems.find((x) => x.id === id)
  if (!s) throw new Error(`no system ${id}`)
  return s
}

t.test('the example config parses, with defaults applied', async (t) => {
  const systems = await loadSystemsFile(example, env)
  t.same(systems.map((s) => s.id), ['shop', 'crm', 'erp'])

  const shop = byId(systems, 'shop')
  t.equal(shop.baseUrl, 'http://127.0.0.1:4001', 'trailing slash removed')
  t.same(shop.auth, { kind: 'bearer', token: 'shop-token-123' })
  t.same(shop.webhooks.keys, ['shop-webhook-key-0123456789'])
  t.same(shop.webhooks.signingSecrets, [secret])
  t.equal(shop.connector, 'http')
  t.equal(shop.timeoutMs, 10_000)
  t.equal(shop.maxResponseBytes, 5 * 1024 * 1024)
  t.same(shop.types.customer?.get, { method: 'GET', path: '/customers/{id}' })
  t.same(shop.flows.map((f) => [f.type, f.direction, f.actions, f.enabled]), [
    ['customer', 'inbound', ['create', 'update', 'delete'], true],
    ['product', 'inbound', ['create', 'update', 'delete'], true],
    ['order', 'inbound', ['create', 'update', 'delete'], true]
  ])

  const crm = byId(systems, 'crm')
  t.same(crm.auth, { kind: 'header', name: 'x-api-key', value: 'crm-api-key' })
  t.same(crm.types.customer?.create, { method: 'POST', path: '/customers', idPath: 'id' })
  t.same(crm.types.customer?.lookup, { method: 'GET', path: '/customers?email={email}', field: 'email', resultPath: 'customers', idPath: 'id' })
  t.same(crm.types.customer?.followUps, [{
    field: 'subscribed',
    statePath: 'subscribed',
    whenTrue: { method: 'POST', path: '/subscriptions/subscribe', body: { email: '{email}' } },
    whenFalse: { method: 'POST', path: '/subscriptions/unsubscribe', body: { email: '{email}' } }
  }])
  t.same(crm.flows[0].collision, { method: 'update-and-link', field: 'email', duplicateStatuses: [409] })
  t.same(crm.flows[0].actions, ['create', 'update'])
  t.same(crm.webhooks, { keys: [], signingSecrets: [] })
  t.same(crm.throttle, { maxConcurrent: 2 })

  const erp = byId(systems, 'erp')
  t.same(erp.auth, { kind: 'basic', username: 'hub', password: 'erp-password' })
  t.same(Object.fromEntries(Object.entries(erp.types.customer ?? {}).filter(([k]) => k !== 'followUps')), {
    get: { method: 'GET', path: '/api/customers/{id}' },
    create: { method: 'POST', path: '/api/customers', idPath: 'id' },
    update: { method: 'PUT', path: '/api/customers/{id}' },
    delete: { method: 'DELETE', path: '/api/customers/{id}' }
  })
  t.same(erp.flows[0].actions, ['create', 'update', 'delete'])
})

t.test('the example mappings carry a shop customer to the CRM and the ERP', async (t) => {
  const systems = await loadSystemsFile(example, env)
  const [shop, crm, erp] = ['shop', 'crm', 'erp'].map((id) => byId(systems, id))
  const shopCustomer = {
    id: 42,
    email: 'ada@example.com',
    first_name: 'Ada',
    last_name: 'Lovelace',
    company: null,
    phone: '+44 1',
    note: 'met at the fair',
    tags: ['vip'],
    accepts_marketing: true,
    addresses: [
      { id: 7, kind: 'shipping', line1: 'Dock 4', city: 'Dover', zip: 'CT16', country: 'GB' },
      { id: 8, kind: 'billing', line1: '12 St James Sq', line2: null, city: 'London', region: null, zip: 'SW1Y', country: 'GB', phone: '+44 2' }
    ]
  }
  const mapped = await applyMappings(shop.flows[0].mappings, shopCustomer)
  t.notOk('customer_number' in mapped, 'the hub assigns customer numbers itself')
  // As the hub stores it, with its own number.
  const canonical: Record<string, any> = { ...mapped, customer_number: '42' }
  const valid = validateCanonical('customer', canonical)
  t.ok(valid.ok, valid.ok ? 'canonical customer' : JSON.stringify(valid.issues))
  t.same(canonical.categories, [{ name: 'vip' }])
  t.same(canonical.custom_fields, [{ custom_field_name: 'accepts_marketing', value: true }, { custom_field_name: 'phone', value: '+44 1' }])
  t.match(canonical.addresses, [{ id: '7', type: 'shipping', first_name: 'Ada', is_primary_billing: false }, { id: '8', city: 'London', is_primary_billing: true }])

  t.same(await applyMappings(crm.flows[0].mappings, canonical), {
    email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', notes: 'met at the fair', externalId: '42', subscribed: true
  })
  const quiet = await applyMappings(crm.flows[0].mappings, { ...canonical, custom_fields: [] })
  t.notOk('subscribed' in quiet, 'no marketing flag, no subscription change')

  t.equal(await passesFilter(erp.flows[0], canonical), true)
  const toErp = await applyMappings(erp.flows[0].mappings, canonical)
  t.same(toErp, {
    customerNo: '42',
    name: 'Ada Lovelace',
    email: 'ada@example.com',
    phone: '+44 1',
    billing: { street: '12 St James Sq', city: 'London', zip: 'SW1Y', country: 'GB' },
    tags: ['vip']
  })
  t.same(checkRequired(erp.flows[0].required, toErp), [])
  const company = await applyMappings(erp.flows[0].mappings, { customer_number: '9', company: 'Acme' })
  t.same(company, { customerNo: '9', name: 'Acme', tags: [] })

  t.same(await evaluate(shop.webhooks.extract ?? '', { topic: 'customers/update', id: 42 }), { scope: 'customer/update', id: '42' })

  const order = await applyMappings(shop.flows[2].mappings, {
    id: 1, number: 1001, customer_id: 42, status: 'paid', currency: 'eur',
    line_items: [{ sku: 'TEE', title: 'Tee', quantity: 2, price: 10 }],
    subtotal: 20, tax: 3.8, shipping: 0, total: 23.8,
    billing_address: { line1: 'a', city: 'b', zip: 'c', country: 'DE' }
  })
  t.ok(validateCanonical('order', order).ok, JSON.stringify(order))
  t.same(order.billing_address, { address_1: 'a', city: 'b', postal_code: 'c', country: 'DE' })
  const product = await applyMappings(shop.flows[1].mappings, { id: 3, sku: 'TEE', title: 'Tee', price: 10, currency: 'eur', inventory: 4, variants: [{ sku: 'TEE-S', title: 'S', price: 10, inventory: 1 }] })
  t.ok(validateCanonical('product', product).ok, JSON.stringify(product))
})

// A small valid system that each error case below breaks in one place.
const base = () => ({
  id: 'crm',
  baseUrl: 'https://crm.example.test',
  types: {
    customer: {
      get: { path: '/customers/{id}' },
      create: { path: '/customers' },
      update: { path: '/customers/{id}' },
      lookup: { path: '/customers', query: { email: '{email}' }, field: 'email' }
    }
  },
  flows: [{
    type: 'customer',
    direction: 'outbound',
    actions: ['create', 'update'],
    mappings: [{ kind: 'field', from: 'email_address', to: 'email' }]
  }] as Record<string, unknown>[]
})

const errorsOf = (raw: unknown) => {
  const r = parseSystem(raw, {})
  return r.ok ? [] : r.errors
}
const fileErrors = (raw: unknown, env: Record<string, string> = {}) => {
  const r = parseSystems(raw, env)
  return r.ok ? [] : r.errors
}

t.test('a minimal system gets every default', async (t) => {
  const r = parseSystem({ id: 'a', baseUrl: 'http://a.test' }, {})
  t.ok(r.ok)
  if (!r.ok) return
  t.strictSame(r.system, {
    id: 'a',
    name: 'a',
    connector: 'http',
    baseUrl: 'http://a.test',
    allowPrivateNetwork: false,
    auth: { kind: 'none' },
    webhooks: { keys: [], signingSecrets: [] },
    throttle: { maxConcurrent: 4 },
    timeoutMs: 10_000,
    maxResponseBytes: 5 * 1024 * 1024,
    retry: { attempts: 16, delayMs: 1000, maxDelayMs: 600_000 },
    breaker: { failures: 5, probeAfterMs: 30_000 },
    types: {},
    flows: []
  })
  const full = parseSystem(base(), {})
  t.ok(full.ok, full.ok ? '' : full.errors.join('\n'))
  if (full.ok) t.same(full.system.types.customer?.lookup?.query, { email: '{email}' })
})

t.test('structural errors, one line each with a precise path', async (t) => {
  t.same(errorsOf({ baseUrl: 'ftp://x' }), ['id: required', 'baseUrl: must be an http:// or https:// URL'])
  t.same(errorsOf({ ...base(), id: 'Bad Id' }), ['id: must be 1-63 of a-z, 0-9, _ and -, starting with a letter or digit'])
  t.same(errorsOf({ ...base(), baseURL: 'x' }), ['baseURL: unknown key'])
  t.same(errorsOf({ ...base(), types: { customer: { get: {} } } }), ['types.customer.get.path: required'])
  t.same(errorsOf({ ...base(), types: { customer: { get: { path: 'customers/{id}' } } }, flows: [] }), ["types.customer.get.path: must start with '/'"])
  t.same(errorsOf({ ...base(), types: { ...base().types, invoice: {} } }), ['types.invoice: unknown data type (expected customer, product, order)'])
  t.same(errorsOf({ ...base(), auth: { kind: 'oauth' } }), ['auth.kind: must be one of "none", "bearer", "basic", "header"'])
  t.same(errorsOf({ ...base(), auth: { kind: 'bearer' } }), ['auth.token: required'])
  t.same(errorsOf({ ...base(), auth: {} }), ['auth.kind: required'])
  t.same(errorsOf({ ...base(), throttle: { maxConcurrent: 0 } }), ['throttle.maxConcurrent: Too small: expected number to be >=1'])
  t.same(errorsOf({ ...base(), webhooks: { keys: ['short'], signingSecrets: ['whsec_abc'] } }), [
    'webhooks.keys[0]: must be at least 16 characters',
    'webhooks.signingSecrets[0]: must be whsec_ followed by base64 of 24 to 64 random bytes (Standard Webhooks)'
  ])
  t.same(errorsOf({ ...base(), flows: [{ type: 'customer', direction: 'outbound', mappings: [{ from: 'a', to: 'b' }] }] }),
    ['flows[0].mappings[0].kind: required'])
  t.same(errorsOf({ ...base(), flows: [{ type: 'customer', direction: 'outbound', mappings: [{ kind: 'static', to: 'b' }] }] }),
    ['flows[0].mappings[0].value: required'])
  t.same(errorsOf({ ...base(), flows: [{ ...base().flows[0], mappings: [{ kind: 'field', from: 'a..b', to: 'email' }] }] }),
    ['flows[0].mappings[0].from: invalid path "a..b": unexpected "..b"'])
  t.same(errorsOf({ ...base(), flows: [{ type: 'invoice', direction: 'sideways', actions: [] }] }), [
    'flows[0].type: Invalid option: expected one of "customer"|"product"|"order"',
    'flows[0].direction: Invalid option: expected one of "inbound"|"outbound"',
    'flows[0].actions: Too small: expected array to have >=1 items'
  ])
  t.same(errorsOf({ ...base(), flows: [{ ...base().flows[0], actions: ['create', 'create'] }] }), ['flows[0].actions[1]: duplicate action create'])
})

t.test('cross-field rules', async (t) => {
  const withFlow = (flow: Record<string, unknown>, types?: unknown) => errorsOf({ ...base(), ...(types ? { types } : {}), flows: [flow] })
  const outbound = base().flows[0]
  const inbound = { ...outbound, direction: 'inbound', mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] }

  t.same(withFlow({ ...outbound, type: 'product' }), ['flows[0].type: types.product is not configured'])
  t.same(withFlow(inbound, { customer: { create: { path: '/c' } } }),
    ['flows[0].direction: inbound needs types.customer.get (or a poll with fullRecords: true)'])
  t.same(withFlow({ ...outbound, actions: ['create', 'update', 'delete'] }), ['flows[0].actions: delete needs types.customer.delete'])
  t.same(withFlow({ ...outbound, actions: undefined }), ['flows[0].actions: delete needs types.customer.delete'], 'the default is all three actions')
  t.same(withFlow(outbound, { customer: { get: { path: '/c/{id}' } } }), [
    'flows[0].actions: create needs types.customer.create',
    'flows[0].actions: update needs types.customer.update'
  ])
  t.same(withFlow({ ...outbound, collision: { method: 'link' } }, { customer: { create: { path: '/c' }, update: { path: '/c/{id}' } } }),
    ['flows[0].collision.method: link needs types.customer.lookup'])
  t.same(withFlow({ ...outbound, collision: { method: 'update-and-link', field: 'email' } }), [])
  t.same(withFlow({ ...inbound, collision: {} }), ['flows[0].collision: only outbound flows handle collisions'])
  t.same(withFlow({ ...outbound, mappings: [] }), ['flows[0].mappings: needs at least one mapping unless the flow only deletes'])
  t.same(withFlow({ type: 'customer', direction: 'outbound', actions: ['delete'] },
    { customer: { delete: { path: '/c/{id}' } } }), [], 'a delete-only flow needs no mappings')
  t.same(errorsOf({ ...base(), flows: [outbound, { ...outbound, actions: ['update'] }] }),
    ['flows[1].actions: outbound customer update is already handled by flows[0]'])
  t.same(errorsOf({ ...base(), flows: [outbound, { ...inbound, actions: ['update'] }] }), [], 'other direction is fine')

  t.same(errorsOf({ ...base(), types: { customer: { get: { path: '/customers' }, delete: { path: '/c', query: { id: '{id}' } } } }, flows: [] }),
    ['types.customer.get.path: must contain {id} (in the path or a query value)'])
  t.same(errorsOf({ ...base(), types: { customer: { lookup: { path: '/customers?mail={mail}', field: 'email' } } }, flows: [] }),
    ['types.customer.lookup.path: must contain {email} (in the path or a query value)'])
})

t.test('mapping targets and match fields name real fields', async (t) => {
  const inbound = (mappings: unknown[], extra: Record<string, unknown> = {}) =>
    errorsOf({ ...base(), flows: [{ type: 'customer', direction: 'inbound', mappings, ...extra }] })
  const field = (to: string) => ({ kind: 'field', from: 'x', to })
  t.same(inbound([field('first_name'), field('email_adress')]),
    ["flows[0].mappings[1].to: 'email_adress' is not a field of customer; did you mean 'email_address'?"])
  t.same(inbound([{ kind: 'static', value: 'x', to: 'addresses[0].citty' }, { kind: 'expression', expression: 'tags', to: 'categories.name' }]), [
    "flows[0].mappings[0].to: 'addresses[0].citty' is not a field of customer; did you mean 'addresses[0].city'?",
    "flows[0].mappings[1].to: 'categories.name': categories is a list; write categories[0].name (or [1], …)"
  ])
  t.same(inbound([field('email_address')], { required: ['emial_address'] }),
    ["flows[0].required[0]: 'emial_address' is not a field of customer; did you mean 'email_address'?"])
  t.same(inbound([field('email_address'), field('addresses[0].custom_fields[1].value')]), [], 'nested paths the model has')

  const outbound = base().flows[0]
  const withCollision = (collision: unknown, mappings: unknown[] = [{ kind: 'field', from: 'email_address', to: 'mail' }, { kind: 'field', from: 'first_name', to: 'name' }]) =>
    errorsOf({ ...base(), flows: [{ ...outbound, mappings, collision }] })
  t.same(withCollision({ method: 'link', field: 'email' }),
    ["flows[0].collision.field: 'email' is not a mapped field (mapped fields: mail, name)"])
  t.same(withCollision({ method: 'link', field: 'mail' }), [])
  t.same(withCollision(undefined), ["flows[0].collision.field: the lookup's field 'email' is not a mapped field; set collision.field to the one that holds it (mapped fields: mail, name)"],
    'the lookup runs for every create, so its default field is checked too')
  t.same(withCollision({ method: 'link', field: 'contact.mail' }, [{ kind: 'expression', expression: '{"mail": email_address}', to: 'contact' }]), [], 'inside a mapped object')
  t.same(errorsOf({ ...base(), flows: [{ ...outbound, required: ['email', 'mail'] }] }),
    ["flows[0].required[1]: 'mail' is not a mapped field (mapped fields: email)"])

  t.same(withCollision({ method: 'link', field: 'mail', duplicateStatuses: [409, 422] }), [])
  t.same(withCollision({ method: 'link', field: 'mail', duplicateStatuses: [503] }),
    ['flows[0].collision.duplicateStatuses[0]: Too big: expected number to be <=499'])
  const parsed = parseSystem({ ...base(), flows: [{ ...outbound, collision: { method: 'link' } }] }, {})
  t.same(parsed.ok && parsed.system.flows[0].collision, { method: 'link', duplicateStatuses: [409] })
})

t.test('the same mistakes stop a config file, with the path in the file', async (t) => {
  const file = join(tmp, 'typo.yaml')
  await writeFile(file, `
systems:
  - id: shop
    baseUrl: https://shop.example.test
    types: { customer: { get: { path: "/customers/{id}" } } }
  - id: crm
    baseUrl: https://crm.example.test
    types:
      customer:
        get: { path: "/customers/{id}" }
        create: { path: /customers }
        update: { path: "/customers/{id}" }
        lookup: { path: /customers, query: { mail: "{mail}" }, field: mail }
    flows:
      - type: customer
        direction: inbound
        actions: [update]
        mappings:
          - { kind: field, from: mail, to: email_adress }
      - type: customer
        direction: outbound
        actions: [create, update]
        collision: { method: link, field: email }
        mappings:
          - { kind: field, from: email_address, to: mail }
`)
  const problems = [
    "systems[1].flows[0].mappings[0].to: 'email_adress' is not a field of customer; did you mean 'email_address'?",
    "systems[1].flows[1].collision.field: 'email' is not a mapped field (mapped fields: mail)"
  ]
  await t.rejects(loadSystemsFile(file, {}), { message: problems.map((p) => `${file}: ${p}`).join('\n') })
  // The hub refuses to start on it (HUB_CONFIG) …
  await t.rejects(buildTestHub(t, { env: { HUB_CONFIG: file } }), { name: 'ConfigError', errors: problems })

  // … and PUT /v1/systems refuses the same document, storing nothing.
  const { app, auth } = await buildTestHub(t)
  const crm = (YAML.parse(await readFile(file, 'utf8')) as { systems: Array<Record<string, unknown>> }).systems[1]
  const res = await app.inject({ method: 'PUT', url: '/v1/systems/crm', headers: auth, payload: crm })
  t.equal(res.statusCode, 400)
  t.same(res.json().error, {
    code: 'validation_failed',
    message: problems[0].replace('systems[1].', ''),
    details: problems.map((p) => { const [, path, message] = /^systems\[1\]\.([^:]+): (.*)$/.exec(p)!; return { path, message } })
  }, 'the one shape of field errors: every issue in details as {path, message}')
  t.equal((await app.inject({ url: '/v1/systems/crm', headers: auth })).statusCode, 404, 'nothing was stored')
})

t.test('JSONata that does not compile is reported where it is written', async (t) => {
  const errors = errorsOf({
    ...base(),
    webhooks: { extract: '{"scope": ' },
    flows: [{
      ...base().flows[0],
      filter: 'status = ',
      mappings: [{ kind: 'field', from: 'a', to: 'email' }, { kind: 'expression', expression: '$string(', to: 'b' }]
    }]
  })
  t.equal(errors.length, 3)
  t.match(errors[0], /^webhooks\.extract: invalid JSONata: .+\(S\d+ at position \d+\)$/)
  t.match(errors[1], /^flows\[0\]\.filter: invalid JSONata: /)
  t.match(errors[2], /^flows\[0\]\.mappings\[1\]\.expression: invalid JSONata: /)
})

t.test('a config file: systems list, duplicate ids, path prefixes', async (t) => {
  t.same(fileErrors({ systems: [base(), base()] }), ['systems[1].id: duplicate id crm (also systems[0])'])
  t.same(fileErrors({ systems: [{ id: 'a', baseUrl: 'http://a' }, { ...base(), types: { customer: { get: {} } } }] }),
    ['systems[1].types.customer.get.path: required'])
  t.same(fileErrors({}), ['systems: required'])
  t.same(fileErrors({ systems: [], extra: 1 }), ['extra: unknown key'])
  t.same(parseSystems({ systems: [] }, {}), { ok: true, systems: [] })
})

t.test('environment substitution', async (t) => {
  t.same(substituteEnv({ a: '${A}', b: ['x-${A}-${B}', 3, null, true], c: { d: '$${A}' } }, { A: '1', B: '2' }),
    { value: { a: '1', b: ['x-1-2', 3, null, true], c: { d: '${A}' } }, errors: [] })
  t.same(substituteEnv({ auth: { token: 'Bearer ${NOPE}' } }, { NOPE: '' }).errors, ['auth.token: environment variable NOPE is not set'])

  const raw = { systems: [{ ...base(), baseUrl: '${CRM_URL}', auth: { kind: 'bearer', token: '${SHOP_TOKEN}' } }] }
  t.same(fileErrors(raw, { CRM_URL: 'http://crm.test' }), ['systems[0].auth.token: environment variable SHOP_TOKEN is not set'])
  t.same(fileErrors(raw), [
    'systems[0].baseUrl: environment variable CRM_URL is not set',
    'systems[0].auth.token: environment variable SHOP_TOKEN is not set'
  ], 'an unset URL is not also reported as an invalid URL')
  const ok = parseSystems(raw, { CRM_URL: 'http://crm.test', SHOP_TOKEN: 's3cret' })
  t.ok(ok.ok)
  if (ok.ok) t.same(ok.systems[0].auth, { kind: 'bearer', token: 's3cret' })
})

t.test('files: YAML, JSON, unknown extension, and errors', async (t) => {
  const doc = { systems: [{ ...base(), auth: { kind: 'bearer', token: '${TOKEN}' } }] }
  const yamlFile = join(tmp, 'hub.yml')
  // x- keys hold YAML anchors, as in docker compose files.
  await writeFile(yamlFile, `
x-defaults: { get: &ep { method: GET } }
systems:
  - id: crm
    baseUrl: https://crm.example.test
    auth: { kind: bearer, token: "\${TOKEN}" }
    types:
      customer:
        get: { <<: *ep, path: "/customers/{id}" }
        create: { path: /customers }
        update: { path: "/customers/{id}" }
    flows:
      - type: customer
        direction: outbound
        actions: [create, update]
        mappings:
          - { kind: field, from: email_address, to: email }
`)
  const fromYaml = await loadSystemsFile(yamlFile, { TOKEN: 't' })
  t.equal(fromYaml[0].id, 'crm')

  const jsonFile = join(tmp, 'hub.json')
  await writeFile(jsonFile, JSON.stringify(doc))
  const fromJson = await loadSystemsFile(jsonFile, { TOKEN: 't' })
  t.same(fromJson[0].auth, { kind: 'bearer', token: 't' })

  const other = join(tmp, 'hub.conf')
  await writeFile(other, JSON.stringify(doc))
  t.same((await loadSystemsFile(other, { TOKEN: 't' }))[0].auth, { kind: 'bearer', token: 't' }, 'unknown extension read as YAML')

  const bad = join(tmp, 'bad.yaml')
  await writeFile(bad, 'systems:\n  - id: crm\n    baseUrl: nope\n    timeoutMs: 5\n')
  const err = await loadSystemsFile(bad, {}).catch((e: unknown) => e)
  t.ok(err instanceof ConfigError)
  t.equal((err as Error).message, [
    `${bad}: systems[0].baseUrl: must be an http:// or https:// URL`,
    `${bad}: systems[0].timeoutMs: Too small: expected number to be >=100`
  ].join('\n'))
  t.same((err as ConfigError).errors.length, 2)

  const broken = join(tmp, 'broken.json')
  await writeFile(broken, '{"systems": [')
  await t.rejects(loadSystemsFile(broken, {}), { message: new RegExp(`^${broken}: not valid JSON: `) })
  const brokenYaml = join(tmp, 'broken.yaml')
  await writeFile(brokenYaml, 'systems: [\n')
  await t.rejects(loadSystemsFile(brokenYaml, {}), { message: new RegExp(`^${brokenYaml}: not valid YAML: `) })
  const empty = join(tmp, 'empty.yaml')
  await writeFile(empty, '')
  await t.rejects(loadSystemsFile(empty, {}), { message: `${empty}: is empty` })
  await t.rejects(loadSystemsFile(join(tmp, 'missing.yaml'), {}), { message: /missing\.yaml: cannot read: ENOENT/ })
})

t.test('a bad HUB_CONFIG stops the hub before it starts a database', async (t) => {
  const bad = join(tmp, 'start-bad.yaml')
  await writeFile(bad, 'systems:\n  - id: crm\n    baseUrl: nope\n')
  for (const [file, problem] of [[join(tmp, 'start-missing.yaml'), 'cannot read: ENOENT'], [bad, 'systems[0].baseUrl: must be an http:// or https:// URL']]) {
    // The embedded default: its data directory is made first thing when a database starts.
    const dataDir = join(tmp, 'start-data')
    const { code, stderr } = await runHubExpectingExit({ HUB_DATA_DIR: dataDir, HUB_CONFIG: file })
    t.equal(code, 2)
    t.match(stderr, `invalid systems config:\n${file}: ${problem}`)
    t.notOk(existsSync(dataDir), 'no database was started')
  }
})

t.test('redaction hides every literal secret, keeps ${ENV} references and the shape', async (t) => {
  const doc = {
    id: 'x',
    name: 'X',
    baseUrl: 'https://user:pa55@x.test/api',
    auth: { kind: 'header', name: 'x-api-key', value: 'literal-key' },
    webhooks: { keys: ['k1-literal-0123456789', '${HUB_SECRET_K2}'], signingSecrets: ['whsec_literal'] },
    types: { customer: { get: { path: '/c/{id}', query: { api_key: 'q-secret', page: '1' } } } },
    flows: [{ type: 'customer', direction: 'inbound', mappings: [{ kind: 'static', value: 'plain', to: 'comment' }] }]
  }
  const redacted = redactDocument(doc) as typeof doc
  const text = JSON.stringify(redacted)
  for (const secret of ['pa55', 'literal-key', 'k1-literal', 'whsec_literal', 'q-secret']) t.notOk(text.includes(secret), `${secret} is hidden`)
  t.equal(redacted.baseUrl, 'https://user:***@x.test/api')
  t.same(redacted.auth, { kind: 'header', name: 'x-api-key', value: '***' })
  t.same(redacted.webhooks, { keys: ['***', '${HUB_SECRET_K2}'], signingSecrets: ['***'] }, 'references are shown as written')
  t.same(redacted.types.customer.get.query, { api_key: '***', page: '1' })
  t.same(redacted.flows, doc.flows, 'everything else is kept')
  t.equal(doc.auth.value, 'literal-key', 'the original is untouched')
})

t.test('a runaway document is refused at once: a bound on flows, each duplicate named once', async t => {
  const flow = { type: 'customer', direction: 'inbound', mappings: [{ kind: 'field', from: 'email', to: 'email_address' }] }
  const doc = (n: number) => ({ id: 'a', baseUrl: 'https://example.com', types: { customer: { get: { path: '/c/{id}' } } }, flows: Array.from({ length: n }, () => flow) })
  const many = parseSystem(doc(3_000), {})
  t.same(many.ok ? [] : many.errors, ['flows: at most 50 flows per system'], '3,000 copies of a flow: one issue')
  const three = parseSystem(doc(3), {})
  const errors = three.ok ? [] : three.errors
  t.equal(errors.length, 6, 'each duplicate flow action is named once')
  t.ok(errors.every(e => e.endsWith('is already handled by flows[0]')), 'against the first flow that handles it')
})
