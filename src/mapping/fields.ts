import { closest, distance } from 'fastest-levenshtein'
import type { z } from 'zod'
import { formatPath } from '../models/index.ts'
import type { Issue } from '../models/index.ts'
import { parsePath } from './map.ts'
import type { PathSegment } from './map.ts'

// Mapping targets are checked against the canonical model when the config is loaded: a
// misspelt `to` would otherwise be written, stripped by the model (which drops unknown keys)
// and lost without a word on every record.

interface Def {
  type: string
  innerType?: z.ZodType
  in?: z.ZodType
  getter?: () => z.ZodType
  options?: z.ZodType[]
  left?: z.ZodType
  right?: z.ZodType
  shape?: Record<string, z.ZodType>
  catchall?: z.ZodType
  valueType?: z.ZodType
  element?: z.ZodType
}

const defOf = (schema: z.ZodType) => schema.def as unknown as Def

/** The nodes that decide what a value may hold, past optional/nullable/default and the like. */
function bare (schema: z.ZodType): z.ZodType[] {
  const def = defOf(schema)
  if (def.innerType) return bare(def.innerType)
  // A pipe (transform) checks its input first, and the input is what a mapping writes.
  if (def.type === 'pipe' && def.in) return bare(def.in)
  if (def.type === 'lazy' && def.getter) return bare(def.getter())
  if (def.type === 'union' && def.options) return def.options.flatMap(bare)
  if (def.type === 'intersection' && def.left && def.right) return [...bare(def.left), ...bare(def.right)]
  return [schema]
}

const OPEN = new Set(['any', 'unknown', 'transform', 'custom'])
// A field this close to one of the model's is taken for a typo of it (two edits only from five
// letters on: `zip` is not a typo of `id`).
const isTypo = (given: string, field: string) => distance(given, field) <= Math.max(given.length < 5 ? 1 : 2, Math.floor(given.length / 3))

// The names other systems give the models' fields, by the name folded (lower case, letters and
// digits only): no edit distance leads from `zip` to postal_code.
const SYNONYMS: Record<string, string> = Object.fromEntries(Object.entries({
  postal_code: ['zip', 'zipcode', 'postcode', 'postal', 'plz'],
  phone_number: ['phone', 'telephone', 'tel', 'mobile', 'cell'],
  address_1: ['street', 'address', 'address1', 'line1', 'street1', 'addressline1'],
  address_2: ['address2', 'line2', 'street2', 'addressline2'],
  region: ['state', 'province', 'county'],
  email_address: ['mail', 'emailaddress'],
  first_name: ['firstname', 'givenname', 'forename'],
  last_name: ['lastname', 'surname', 'familyname'],
  company: ['organization', 'organisation', 'companyname'],
  comment: ['note', 'notes', 'comments'],
  categories: ['tags', 'tag', 'category'],
  quantity: ['qty', 'stock'],
  number: ['ordernumber', 'orderno']
}).flatMap(([field, names]) => names.map(name => [name, field])))

const folded = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '')

/** The field `given` most likely means: a known other name for it (`zip` for postal_code), a typo
 *  of its whole name, else of its first word alone when only one field starts with that word
 *  (`email` or `emial` for email_address). */
function typoOf (given: string, fields: string[]): string | undefined {
  const synonym = SYNONYMS[folded(given)]
  if (synonym && fields.includes(synonym)) return synonym
  const named = closest(given, fields)
  if (isTypo(given, named)) return named
  const words = fields.map(f => f.split('_')[0])
  const word = closest(given, words)
  return isTypo(given, word) && words.indexOf(word) === words.lastIndexOf(word) ? fields[words.indexOf(word)] : undefined
}

/**
 * Why `target` (a path, or its segments) is not somewhere `schema` (the canonical model `model`)
 * can hold a value, or undefined when it is: each key must be a field of its object (or fall
 * under a record or a loose object's extra keys), each [n] must index a list.
 */
export function targetProblem (schema: z.ZodType, model: string, target: string | readonly PathSegment[]): string | undefined {
  let segments: readonly PathSegment[]
  try {
    segments = typeof target === 'string' ? parsePath(target) : target
  } catch {
    return undefined // bad syntax is reported by the path's own check
  }
  const path = typeof target === 'string' ? target : formatPath(target)
  let nodes = [schema]
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]
    const here = formatPath(segments.slice(0, i))
    const shapes = nodes.flatMap(bare)
    if (shapes.some(s => OPEN.has(defOf(s).type))) return undefined
    const arrays = shapes.filter(s => defOf(s).type === 'array')
    if (typeof seg === 'number') {
      if (!arrays.length) return `'${path}': ${here || model} is not a list`
      nodes = arrays.map(s => defOf(s).element as z.ZodType)
      continue
    }
    const next = shapes.flatMap(s => childOf(s, seg))
    if (next.length) {
      nodes = next
      continue
    }
    if (arrays.length) return `'${path}': ${here} is a list; write ${here}[0].${seg} (or [1], …)`
    const fields = [...new Set(shapes.flatMap(s => Object.keys(defOf(s).shape ?? {})))]
    if (!fields.length) return `'${path}': ${here} is a single value and has no fields`
    const nearest = typoOf(seg, fields)
    if (nearest) return `'${path}' is not a field of ${model}; did you mean '${formatPath(replaced(segments, i, nearest))}'?`
    return `'${path}' is not a field of ${model} (${here ? `fields of ${here}` : 'fields'}: ${fields.join(', ')})`
  }
  return undefined
}

/**
 * The keys of `value` (at any depth) that `schema` has no place for, each with targetProblem's
 * reason: the model would strip them, so a write that wholly replaces a record would lose them.
 */
export function unknownFields (schema: z.ZodType, model: string, value: unknown, at: readonly PathSegment[] = []): Issue[] {
  if (value === null || typeof value !== 'object') return []
  const entries: Array<[PathSegment, unknown]> = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value)
  return entries.flatMap(([seg, v]) => {
    const path = [...at, seg]
    const problem = targetProblem(schema, model, path)
    return problem ? [{ path: formatPath(path), message: problem }] : unknownFields(schema, model, v, path)
  })
}

function childOf (schema: z.ZodType, key: string): z.ZodType[] {
  const def = defOf(schema)
  if (def.type === 'record' && def.valueType) return [def.valueType]
  if (def.type !== 'object') return []
  if (def.shape && Object.hasOwn(def.shape, key)) return [def.shape[key]]
  // z.looseObject keeps extra keys (catchall unknown); z.strictObject refuses them (never).
  if (def.catchall && defOf(def.catchall).type !== 'never') return [def.catchall]
  return []
}

function replaced (segments: readonly PathSegment[], at: number, key: string): PathSegment[] {
  return segments.map((s, i) => i === at ? key : s)
}

/**
 * The kinds of value (zod def types: 'string', 'number', 'boolean', …) `schema` can hold at
 * `path`, or [] when the path is not in it. CSV imports use it to type a cell's text.
 */
export function leafTypes (schema: z.ZodType, path: string): string[] {
  return [...new Set(shapesAt(schema, path).map(s => defOf(s).type))]
}

/** What `schema` can hold at `path`, past optional and the like: [] when the path is not in it. */
function shapesAt (schema: z.ZodType, path: string): z.ZodType[] {
  let nodes = [schema]
  for (const seg of parsePath(path)) {
    const shapes = nodes.flatMap(bare)
    nodes = typeof seg === 'number'
      ? shapes.filter(s => defOf(s).type === 'array').map(s => defOf(s).element as z.ZodType)
      : shapes.flatMap(s => childOf(s, seg))
  }
  return nodes.flatMap(bare)
}

/**
 * Why one value (a CSV cell) cannot fill `path`, where `schema` holds only lists or objects,
 * naming a path inside it that can; undefined otherwise. Every row would fail on it.
 */
export function cellProblem (schema: z.ZodType, path: string): string | undefined {
  let shapes: z.ZodType[]
  try {
    shapes = shapesAt(schema, path)
  } catch {
    return undefined // bad syntax is reported by the path's own check
  }
  if (!shapes.length || shapes.some(s => defOf(s).type !== 'array' && defOf(s).type !== 'object')) return undefined
  const list = shapes.find(s => defOf(s).type === 'array')
  const inner = list ? `${path}[0]` : path
  const fields = shapesAt(schema, inner).flatMap(s => Object.keys(defOf(s).shape ?? {}))
  const field = fields.find(f => f === 'name') ?? fields.find(f => f !== 'id')
  const example = field ? `${inner}.${field}` : inner
  return `'${path}' is ${list ? 'a list' : 'an object'}, and a cell holds one value: name ${list ? 'a field of an element' : 'one of its fields'}, such as '${example}'`
}
