// Two sources that send no webhooks, for pull sync (src/poll):
// - the ledger, an accounting system whose customer list filters by a row version
//   (`?modified_since=`, inclusive), sorts by version then id, and pages by number: cursor mode;
// - the stockroom, an old stock system that can only list every product, a next token at a
//   time: audit mode.
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'

type Fields = Record<string, unknown>

export interface PullSource {
  url: string
  /** Create or replace a record; the ledger stamps the next row version unless given one. */
  put (id: string, fields: Fields, version?: number): void
  remove (id: string): boolean
  get (id: string): Fields | undefined
  count (): number
  /** Requests answered so far, by kind. */
  calls: { list: number, get: number }
  /** Answer the `n`th list request from now (1 = the next one) with `status`, once. */
  failList (n: number, status?: number): void
  /** Answer list requests with this body instead (a wrong shape), until cleared with undefined. */
  garble (body: unknown): void
  /** Hold list requests until the returned function is called. */
  pause (): () => void
  close (): Promise<void>
}

interface Listing { status?: number, body: unknown }

/** Where a source listens: a free port unless given one (`npm run sandbox -- --pull`). */
export interface SourceOptions { port?: number }

async function serve (name: string, records: Map<string, Fields>, list: (query: URLSearchParams) => Listing, getPath: string, opts: SourceOptions): Promise<PullSource> {
  const calls = { list: 0, get: 0 }
  let failAt = 0
  let failStatus = 503
  let garbled: unknown
  let gate: Promise<void> | undefined
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://source')
    if (req.method === 'GET' && url.pathname === getPath) {
      calls.list++
      await gate
      if (failAt && calls.list === failAt) { failAt = 0; return send(res, failStatus, { error: `${name} is busy` }) }
      if (garbled !== undefined) return send(res, 200, garbled)
      const { status = 200, body } = list(url.searchParams)
      return send(res, status, body)
    }
    const id = url.pathname.startsWith(getPath + '/') ? decodeURIComponent(url.pathname.slice(getPath.length + 1)) : undefined
    const one = req.method === 'GET' && id !== undefined && records.get(id)
    if (one) { calls.get++; return send(res, 200, one) }
    // Changes by hand (curl), for a poll to find: PUT a record's fields, or DELETE it.
    if (req.method === 'PUT' && id) {
      let fields: unknown
      try { fields = JSON.parse(Buffer.concat(await req.toArray()).toString('utf8')) } catch { fields = undefined }
      if (!fields || typeof fields !== 'object' || Array.isArray(fields)) return send(res, 400, { error: 'send the record as a JSON object' })
      source.put(id, fields as Fields)
      return send(res, 200, records.get(id))
    }
    if (req.method === 'DELETE' && id && source.remove(id)) return res.writeHead(204).end()
    send(res, 404, { error: 'not found' })
  }
  const server = createServer(handle)
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  let version = 0
  const source: PullSource = {
    url: `http://127.0.0.1:${port}`,
    put (id, fields, v) {
      version = Math.max(version, v ?? version + 1)
      // A replaced record keeps its place in the stockroom's listing order (Map order).
      records.set(id, { ...fields, id, version: v ?? version })
    },
    remove: id => records.delete(id),
    get: id => records.get(id),
    count: () => records.size,
    calls,
    failList (n, status = 503) { failAt = calls.list + n; failStatus = status },
    garble (body) { garbled = body },
    pause () {
      let release!: () => void
      gate = new Promise(resolve => { release = resolve })
      return () => { gate = undefined; release() }
    },
    close: () => new Promise(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  }
  return source
}

const int = (raw: string | null, fallback: number, max = Number.MAX_SAFE_INTEGER) => {
  const n = raw === null ? fallback : Number(raw)
  return Number.isInteger(n) && n >= 0 ? Math.min(n, max) : undefined
}

/** The ledger: GET /customers?modified_since=&page=&per_page= → { customers, page }. */
export async function startLedger (opts: SourceOptions = {}): Promise<PullSource> {
  const records = new Map<string, Fields>()
  return await serve('ledger', records, (q) => {
    const since = int(q.get('modified_since'), 0)
    const page = int(q.get('page'), 1)
    const perPage = int(q.get('per_page'), 100, 1000)
    if (since === undefined || !page || !perPage) return { status: 400, body: { error: 'modified_since, page and per_page are whole numbers' } }
    const matching = [...records.values()].filter(r => (r.version as number) >= since)
      .sort((a, b) => (a.version as number) - (b.version as number) || String(a.id).localeCompare(String(b.id)))
    return { body: { customers: matching.slice((page - 1) * perPage, page * perPage), page } }
  }, '/customers', opts)
}

/** The stockroom: GET /products?after=<token>&limit= → { items, next } in its own order, no filter. */
export async function startStockroom (opts: SourceOptions = {}): Promise<PullSource> {
  const records = new Map<string, Fields>()
  return await serve('stockroom', records, (q) => {
    const limit = int(q.get('limit'), 100, 1000)
    const after = q.get('after')
    if (!limit) return { status: 400, body: { error: 'limit is a positive whole number' } }
    // The token is the last id of the previous page: records keep their places (Map order).
    const items: Fields[] = []
    let started = after === null
    let more = false
    for (const [id, r] of records) {
      if (!started) { started = id === after; continue }
      if (items.length === limit) { more = true; break }
      items.push(r)
    }
    return { body: { items, next: more ? String(items[items.length - 1].id) : null } }
  }, '/products', opts)
}

/** A hub system for the ledger at `url`: customers polled in cursor mode, fetched one by one. */
export const ledgerSystem = (url: string, id = 'ledger') => ({
  id,
  name: 'Ledger (sends no webhooks)',
  baseUrl: url,
  allowPrivateNetwork: true,
  throttle: { maxConcurrent: 2, perSecond: 200 },
  types: {
    customer: {
      get: { path: '/customers/{id}' },
      list: { path: '/customers', itemsPath: 'customers', modifiedPath: 'version', sinceParam: 'modified_since', paging: { kind: 'page', param: 'page' }, pageSize: 100, pageSizeParam: 'per_page' }
    }
  },
  flows: [{
    type: 'customer',
    direction: 'inbound',
    actions: ['create', 'update'],
    mappings: [{ kind: 'field', from: 'email', to: 'email_address' }, { kind: 'field', from: 'name', to: 'first_name' }],
    poll: { mode: 'cursor' }
  }]
})

/** A hub system for the stockroom at `url`: products polled in audit mode, listed whole. */
export const stockroomSystem = (url: string, id = 'stockroom') => ({
  id,
  name: 'Stockroom (lists everything, filters nothing)',
  baseUrl: url,
  allowPrivateNetwork: true,
  types: {
    product: { list: { path: '/products', itemsPath: 'items', paging: { kind: 'next', path: 'next', param: 'after' }, pageSize: 100, pageSizeParam: 'limit' } }
  },
  flows: [{
    type: 'product',
    direction: 'inbound',
    mappings: [{ kind: 'field', from: 'sku', to: 'sku' }, { kind: 'field', from: 'title', to: 'name' }],
    poll: { mode: 'audit', fullRecords: true }
  }]
})
