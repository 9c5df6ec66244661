import type { Flow, Mapping } from '../config/systems.ts'
import { formatPath } from '../models/index.ts'
import { evaluate } from './jsonata.ts'

export type PathSegment = string | number

/** A mapping (or filter) that could not be applied; `field` is the mapping's `to` (or 'filter'). */
export class MappingError extends Error {
  field: string
  constructor (field: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'MappingError'
    this.field = field
  }
}

// Paths come from config that admins can change over the API, so keys that would reach
// Object.prototype are refused, and indexes are capped so one typo cannot allocate a huge array.
const FORBIDDEN = new Set(['__proto__', 'prototype', 'constructor'])
const MAX_INDEX = 9999
const TOKEN = /\[(\d+)\]|(?:^|\.)([^.[\]]+)/y
const parsed = new Map<string, PathSegment[]>()

/** `addresses[0].city` → `['addresses', 0, 'city']`; '' is the root (no segments). Throws on bad syntax. */
export function parsePath (path: string): PathSegment[] {
  const hit = parsed.get(path)
  if (hit) return hit
  const segments: PathSegment[] = []
  if (path.startsWith('.')) throw new Error(`invalid path "${path}": starts with a dot`)
  TOKEN.lastIndex = 0
  while (TOKEN.lastIndex < path.length) {
    const at = TOKEN.lastIndex
    const m = TOKEN.exec(path)
    if (!m) throw new Error(`invalid path "${path}": unexpected "${path.slice(at)}"`)
    if (m[1] !== undefined) {
      const index = Number(m[1])
      if (index > MAX_INDEX) throw new Error(`invalid path "${path}": index ${index} is above ${MAX_INDEX}`)
      segments.push(index)
    } else {
      if (FORBIDDEN.has(m[2])) throw new Error(`invalid path "${path}": "${m[2]}" is not allowed`)
      segments.push(m[2])
    }
  }
  if (parsed.size < 10_000) parsed.set(path, segments)
  return segments
}

function segmentsOf (path: string | readonly PathSegment[]): readonly PathSegment[] {
  return typeof path === 'string' ? parsePath(path) : path
}

/** Read a dot/[n] path; anything missing on the way gives undefined. '' returns `obj` itself. */
export function getPath (obj: unknown, path: string | readonly PathSegment[]): unknown {
  let cur = obj
  for (const seg of segmentsOf(path)) {
    if (cur === null || typeof cur !== 'object') return undefined
    if (Array.isArray(cur)) {
      // `items.0.id` is accepted as well as `items[0].id`.
      const index = typeof seg === 'number' ? seg : /^\d+$/.test(seg) ? Number(seg) : -1
      cur = index >= 0 ? cur[index] : undefined
    } else {
      const key = String(seg)
      cur = Object.hasOwn(cur, key) ? (cur as Record<string, unknown>)[key] : undefined
    }
  }
  return cur
}

/** Write a dot/[n] path into `obj`, creating objects (or arrays, before an [n]) on the way. */
export function setPath (obj: Record<string, unknown> | unknown[], path: string | readonly PathSegment[], value: unknown): void {
  const segments = segmentsOf(path)
  if (segments.length === 0) throw new Error('cannot set the root path')
  let cur: Record<PropertyKey, unknown> = obj as Record<PropertyKey, unknown>
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]
    if (typeof seg === 'number' && !Array.isArray(cur)) throw new Error(`cannot set ${String(path)}: ${shown(segments, i)} is not an array`)
    if (typeof seg === 'string' && Array.isArray(cur)) throw new Error(`cannot set ${String(path)}: ${shown(segments, i)} is an array`)
    if (i === segments.length - 1) {
      cur[seg] = value
      return
    }
    let next = cur[seg]
    if (next === undefined || next === null) {
      next = typeof segments[i + 1] === 'number' ? [] : {}
      cur[seg] = next
    } else if (typeof next !== 'object') {
      throw new Error(`cannot set ${String(path)}: ${shown(segments, i + 1)} is a ${typeof next}`)
    }
    cur = next as Record<PropertyKey, unknown>
  }
}

function shown (segments: readonly PathSegment[], length: number): string {
  return formatPath(segments.slice(0, length)) || 'the root'
}

// Mapped output must be plain JSON that shares nothing with the source: JSONata marks result
// arrays with a `sequence` flag, may return functions, and copied subtrees would otherwise be
// mutated by a later nested mapping.
function plain (value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? undefined : value
  return JSON.parse(JSON.stringify(value))
}

async function valueOf (mapping: Mapping, source: unknown, bindings?: Record<string, unknown>): Promise<unknown> {
  switch (mapping.kind) {
    case 'field': return getPath(source, mapping.from)
    case 'static': return mapping.value
    case 'expression': return await evaluate(mapping.expression, source, bindings)
  }
}

/**
 * Build the target record from `source`. A field whose source is missing, or an expression
 * yielding nothing, is left unset (so updates send only what was mapped); null is kept.
 */
export async function applyMappings (mappings: readonly Mapping[], source: unknown, bindings?: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const mapping of mappings) {
    try {
      const value = plain(await valueOf(mapping, source, bindings))
      if (value !== undefined) setPath(out, mapping.to, value)
    } catch (err) {
      throw new MappingError(mapping.to, `mapping to ${mapping.to} failed: ${(err as Error).message}`, { cause: err })
    }
  }
  return out
}

// JSONata's own truthiness ($boolean), so a filter reads the same as it would in JSONata:
// an empty array, empty object or empty string is false; an array is true if any member is.
function truthy (value: unknown): boolean {
  if (Array.isArray(value)) return value.some(truthy)
  if (value !== null && typeof value === 'object') return Object.keys(value).length > 0
  if (typeof value === 'function') return false
  return Boolean(value)
}

/** A flow without a filter takes everything; a filter error is a MappingError on 'filter'. */
export async function passesFilter (flow: Pick<Flow, 'filter'>, source: unknown, bindings?: Record<string, unknown>): Promise<boolean> {
  if (flow.filter === undefined) return true
  try {
    return truthy(await evaluate(flow.filter, source, bindings))
  } catch (err) {
    throw new MappingError('filter', `filter failed: ${(err as Error).message}`, { cause: err })
  }
}

/** A plain object (not null, not a list). */
export const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Nothing there: undefined, null, blank text or an empty list. */
export function isEmpty (value: unknown): boolean {
  if (value === undefined || value === null) return true
  if (typeof value === 'string') return value.trim() === ''
  if (Array.isArray(value)) return value.length === 0
  return false
}

/** The required paths that are missing, null, blank or an empty array in `mapped`. */
export function checkRequired (required: readonly string[] | undefined, mapped: unknown): string[] {
  return (required ?? []).filter((path) => isEmpty(getPath(mapped, path)))
}
