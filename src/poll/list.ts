import type { ListEndpoint, SystemConfig } from '../config/systems.ts'
import { callSystem, endpointPath } from '../connectors/http.ts'
import { getPath } from '../mapping/map.ts'
import type { PipelineContext } from '../pipeline/context.ts'
import { PermanentError } from '../pipeline/failures.ts'

/** One record of a listing: its id, its modified token (cursor mode), and the record as listed. */
export interface Listed { id: string, token?: string, record: Record<string, unknown> }

export interface PageRequest {
  /** Cursor mode: the modified token the source filters by (inclusive). */
  since?: string
  /** Pages fetched since the listing (or its `since`) began: the page number or offset. */
  index: number
  /** 'next' paging: the token or link the previous answer carried. */
  next?: string
}

export interface Page {
  items: Listed[]
  /** The source may have more after this page. */
  more: boolean
  next?: string
  /** What was asked, for messages. */
  request: string
}

type Ctx = Pick<PipelineContext, 'pace' | 'withSlot'>

const kindOf = (v: unknown) => Array.isArray(v) ? 'an array' : v === null ? 'null' : v === undefined ? 'nothing' : typeof v === 'object' ? 'an object' : `a ${typeof v}`

/**
 * Fetch one page of a system's listing through its connector: the system's throttle (a
 * maxConcurrent slot and its perSecond pace), auth, address guard and redaction apply as to any
 * call. An answer of the wrong shape is a PermanentError naming what was expected where.
 */
export async function fetchPage (ctx: Ctx, system: SystemConfig, list: ListEndpoint, req: PageRequest, needToken: boolean): Promise<Page> {
  const path = pagePath(system, list, req)
  const request = `${list.method} ${path}`
  const { body } = await ctx.withSlot(system.id, system.throttle.maxConcurrent,
    () => callSystem(system, { method: list.method, path, step: 'list' }, undefined, ctx.pace))
  const wrong = (what: string) => new PermanentError(`${system.id} answered ${request} with the wrong shape: ${what}`)
  const raw = list.itemsPath ? getPath(body, list.itemsPath) : body
  if (!Array.isArray(raw)) throw wrong(`expected an array of records ${list.itemsPath ? `at '${list.itemsPath}'` : 'as the answer'}, found ${kindOf(raw)}`)
  const items = raw.map((record, k): Listed => {
    if (!record || typeof record !== 'object' || Array.isArray(record)) throw wrong(`expected record ${k} to be an object, found ${kindOf(record)}`)
    const id = getPath(record, list.idPath)
    if ((typeof id !== 'string' && typeof id !== 'number') || id === '') throw wrong(`expected an id at '${list.idPath}' of record ${k}, found ${kindOf(id)}`)
    const item: Listed = { id: String(id), record: record as Record<string, unknown> }
    if (needToken) {
      const token = getPath(record, list.modifiedPath!)
      if ((typeof token !== 'string' && typeof token !== 'number') || token === '') throw wrong(`expected a modified token at '${list.modifiedPath}' of record ${k}, found ${kindOf(token)}`)
      item.token = String(token)
    }
    return item
  })
  if (list.paging.kind !== 'next') return { items, more: raw.length >= list.pageSize, request }
  const next = getPath(body, list.paging.path)
  if (next !== undefined && next !== null && next !== '' && typeof next !== 'string' && typeof next !== 'number') {
    throw wrong(`expected the next page's token at '${list.paging.path}' to be a string, found ${kindOf(next)}`)
  }
  const token = next === undefined || next === null || next === '' ? undefined : String(next)
  return { items, more: token !== undefined, next: token, request }
}

function pagePath (system: SystemConfig, list: ListEndpoint, req: PageRequest): string {
  const paging = list.paging
  // A next link is followed as given: only its path and query, so it can never point the
  // system's credentials at another host.
  if (paging.kind === 'next' && !paging.param && req.next !== undefined) return linkPath(system, req.next)
  const params = new URLSearchParams()
  if (req.since !== undefined) params.set(list.sinceParam!, req.since)
  if (list.pageSizeParam) params.set(list.pageSizeParam, String(list.pageSize))
  if (paging.kind === 'page') params.set(paging.param, String(paging.first + req.index))
  else if (paging.kind === 'offset') params.set(paging.param, String(req.index * list.pageSize))
  else if (req.next !== undefined) params.set(paging.param!, req.next)
  const base = endpointPath(list, {})
  const query = params.toString()
  return query ? base + (base.includes('?') ? '&' : '?') + query : base
}

function linkPath (system: SystemConfig, link: string): string {
  const base = new URL(system.baseUrl)
  const url = new URL(link, base.origin + base.pathname + '/')
  if (url.origin !== base.origin) throw new PermanentError(`${system.id} sent a next-page link to another origin (${url.origin}); not followed`)
  // callSystem prefixes the base URL's path: strip it when the link repeats it.
  const prefix = base.pathname.replace(/\/$/, '')
  const path = prefix && url.pathname.startsWith(prefix + '/') ? url.pathname.slice(prefix.length) : url.pathname
  return path + url.search
}
