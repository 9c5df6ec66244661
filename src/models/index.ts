import { z } from 'zod'
import { textProblem } from './text.ts'
import { customerSchema } from './customer.ts'
import { productSchema } from './product.ts'
import { orderSchema } from './order.ts'
import type { Customer } from './customer.ts'
import type { Product } from './product.ts'
import type { Order } from './order.ts'

export { customerSchema, addressSchema, customFieldSchema, externalIdSchema, identifiesCustomer, UNNAMED_CUSTOMER } from './customer.ts'
export type { Customer, Address, CustomField, ExternalId } from './customer.ts'
export { productSchema } from './product.ts'
export type { Product } from './product.ts'
export { orderSchema, orderStatuses } from './order.ts'
export type { Order } from './order.ts'

export const dataTypes = ['customer', 'product', 'order'] as const
export type DataType = typeof dataTypes[number]

/** The field that tells one record of a type from another when no link does (imports, search). */
export const keyFields: Record<DataType, string> = { customer: 'email_address', product: 'sku', order: 'number' }

/** Key fields matched whatever their case: mail systems treat `Ann@Example.com` as `ann@example.com`. */
export const foldedKeys: ReadonlySet<string> = new Set(['email_address'])

/**
 * A key value as it is matched. Only ASCII letters fold, as PostgreSQL's `lower(… COLLATE "C")`
 * in the key index does, whatever the database's locale: both sides always agree.
 */
export const foldKey = (field: string, value: string) =>
  foldedKeys.has(field) ? value.replace(/[A-Z]+/g, s => s.toLowerCase()) : value

export const canonicalSchemas: Record<DataType, z.ZodType> = {
  customer: customerSchema,
  product: productSchema,
  order: orderSchema
}

export interface Issue { path: string, message: string }

/** `['addresses', 0, 'city']` → `addresses[0].city`; the root is ''. */
export function formatPath (path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else out += (out === '' ? '' : '.') + String(key)
  }
  return out
}

// Zod's defaults ("Invalid input: expected string, received undefined") are noisy for the
// most common mistake, a missing key; every parse in the hub reports that as 'required'. Set
// for zod as a whole, so the routes' own schema validation words its issues the same way.
function hubWording (iss: z.core.$ZodRawIssue): string | undefined {
  if (iss.input === undefined && (iss.code === 'invalid_type' || iss.code === 'invalid_union' || iss.code === 'invalid_value')) return 'required'
  if (iss.code === 'invalid_union' && typeof iss.discriminator === 'string') {
    const input = iss.input as Record<string, unknown> | undefined
    if (input?.[iss.discriminator] === undefined) return 'required'
    const options = (iss.options as unknown[] | undefined) ?? []
    return `must be one of ${options.map((o) => JSON.stringify(o)).join(', ')}`
  }
  // Zod's `expected int, received number` (1.5), `received NaN` (a query's `abc`, coerced) and
  // `received number` (JSON's 1e400, read as Infinity) name its own types, not the mistake.
  if (iss.code === 'invalid_type' && typeof iss.input === 'number') {
    if (iss.expected === 'int' && Number.isFinite(iss.input)) return `expected a whole number, received ${iss.input}`
    if (!Number.isFinite(iss.input)) return `expected ${iss.expected === 'int' ? 'a whole number' : iss.expected}, received ${received(iss.input)}`
  }
  // A union of plain types (`string | number`) that none matched: name them, not "Invalid input".
  if (iss.code === 'invalid_union') {
    const expected = (iss.errors as z.core.$ZodIssue[][] | undefined)?.map(option =>
      option.length === 1 && option[0].code === 'invalid_type' && option[0].path.length === 0 ? option[0].expected : undefined)
    if (expected?.length && expected.every(Boolean)) return `expected ${expected.join(' or ')}, received ${received(iss.input)}`
  }
  return undefined
}

z.config({ customError: hubWording })

function received (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  if (Number.isNaN(value)) return 'text that is not a number'
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a number too large'
  return typeof value
}

/** Flatten zod issues to dotted paths; an unknown key becomes an issue at that key. */
export function toIssues (error: z.ZodError): Issue[] {
  const out: Issue[] = []
  for (const iss of error.issues) {
    if (iss.code === 'unrecognized_keys') {
      const message = iss.message.startsWith('Unrecognized key') ? 'unknown key' : iss.message
      for (const key of iss.keys) out.push({ path: formatPath([...iss.path, key]), message })
    } else {
      out.push({ path: formatPath(iss.path), message: iss.message })
    }
  }
  return out
}

export type Checked<T> = { ok: true, value: T } | { ok: false, issues: Issue[] }

/** safeParse, its issues as the hub reports them. */
export function check<S extends z.ZodType> (schema: S, value: unknown): Checked<z.output<S>> {
  const result = schema.safeParse(value)
  return result.success ? { ok: true, value: result.data } : { ok: false, issues: toIssues(result.error) }
}

export interface CanonicalRecords { customer: Customer, product: Product, order: Order }

/**
 * Validate a record against its model. A string PostgreSQL cannot store (a NUL, an unpaired
 * surrogate), at any depth and in a key too, is an issue at its path: it would otherwise fail the
 * statement that writes it, with the database's wording and no field named.
 */
export function validateCanonical<T extends DataType> (type: T, value: unknown): Checked<CanonicalRecords[T]> {
  const unstorable = unstorableAt(value, [])
  if (unstorable) return { ok: false, issues: [unstorable] }
  return check(canonicalSchemas[type], value) as Checked<CanonicalRecords[T]>
}

function unstorableAt (value: unknown, path: PropertyKey[]): Issue | undefined {
  if (typeof value === 'string') {
    const problem = textProblem(value, Infinity)
    return problem ? { path: formatPath(path), message: problem } : undefined
  }
  if (value === null || typeof value !== 'object') return undefined
  for (const [key, v] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
    const keyProblem = typeof key === 'string' ? textProblem(key, Infinity) : undefined
    const found = keyProblem ? { path: formatPath([...path, key]), message: `its key ${keyProblem}` } : unstorableAt(v, [...path, key])
    if (found) return found
  }
  return undefined
}
