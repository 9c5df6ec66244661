import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import YAML from 'yaml'
import type { z } from 'zod'
import { check, formatPath } from '../models/index.ts'
import type { Issue } from '../models/index.ts'
import { configFileSchema, systemSchema } from './systems.ts'
import type { SystemConfig } from './systems.ts'
import { maskSecretParams } from '../redact.ts'

export type Env = Record<string, string | undefined>
/** A failure has each issue as a `path: problem` line (errors) and as {path, message} (issues). */
export type Parsed<T> = { ok: true } & T | { ok: false, errors: string[], issues: Issue[] }

/** A config file that cannot be used; the message has one `file: path: problem` line per issue. */
export class ConfigError extends Error {
  file: string
  errors: string[]
  constructor (file: string, errors: string[]) {
    super(errors.map((e) => `${file}: ${e}`).join('\n'))
    this.name = 'ConfigError'
    this.file = file
    this.errors = errors
  }
}

const formatIssue = (issue: Issue) => issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`

// `$${NAME}` stays literal `${NAME}`, for the rare JSONata or URL text that needs it.
export const VARIABLE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g

/** Why a `${NAME}` has no value; by default, that the variable is not set. */
export type Missing = (name: string) => string
export const notSet: Missing = name => `environment variable ${name} is not set`

function substitute (value: unknown, env: Env, path: PropertyKey[], issues: Issue[], missing: Missing = notSet): unknown {
  if (typeof value === 'string') {
    return value.replace(VARIABLE, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1)
      const found = env[name]
      // An empty variable is treated as unset (as in env.ts): an empty secret is a mistake.
      if (found === undefined || found === '') {
        issues.push({ path: formatPath(path), message: missing(name) })
        return whole
      }
      return found
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, env, [...path, i], issues, missing))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, env, [...path, k], issues, missing)]))
  }
  return value
}

/**
 * Replace `${NAME}` in every string (whole or part) with the environment variable. Missing
 * variables are reported as `path: environment variable NAME is not set` and left as written.
 */
export function substituteEnv (value: unknown, env: Env = process.env): { value: unknown, errors: string[] } {
  const issues: Issue[] = []
  const out = substitute(value, env, [], issues)
  return { value: out, errors: issues.map(formatIssue) }
}

function parseWith<S extends z.ZodType> (schema: S, raw: unknown, env: Env, missing?: Missing): { ok: true, value: z.output<S> } | { ok: false, errors: string[], issues: Issue[] } {
  const envIssues: Issue[] = []
  const substituted = substitute(raw, env, [], envIssues, missing)
  const result = check(schema, substituted)
  if (result.ok && envIssues.length === 0) return { ok: true, value: result.value }
  // A placeholder left in place would also fail its own validation; report only the cause.
  const envPaths = new Set(envIssues.map((i) => i.path))
  const schemaIssues = result.ok ? [] : result.issues.filter((i) => !envPaths.has(i.path))
  const issues = [...envIssues, ...schemaIssues]
  return { ok: false, errors: issues.map(formatIssue), issues }
}

/** Validate a whole config document `{ systems: [...] }`. */
export function parseSystems (raw: unknown, env: Env = process.env): Parsed<{ systems: SystemConfig[] }> {
  const r = parseWith(configFileSchema, raw, env)
  return r.ok ? { ok: true, systems: r.value.systems } : r
}

/** Validate one system document (as sent to PUT /v1/systems/:id); paths have no `systems[n].` prefix. */
export function parseSystem (raw: unknown, env: Env = process.env, missing?: Missing): Parsed<{ system: SystemConfig }> {
  const r = parseWith(systemSchema, raw, env, missing)
  return r.ok ? { ok: true, system: r.value } : r
}

/**
 * Read and validate a .json, .yaml or .yml file (anything else is read as YAML, a JSON
 * superset). Returns the validated systems and the documents as written, ${ENV} references
 * intact, for storing.
 */
export async function readSystemsFile (file: string, env: Env = process.env): Promise<{ systems: SystemConfig[], documents: Array<{ id: string }> }> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as Error).message}`])
  }
  const json = extname(file).toLowerCase() === '.json'
  let raw: unknown
  try {
    raw = json ? JSON.parse(text) : YAML.parse(text, { merge: true })
  } catch (err) {
    throw new ConfigError(file, [`not valid ${json ? 'JSON' : 'YAML'}: ${(err as Error).message}`])
  }
  if (raw == null) throw new ConfigError(file, ['is empty'])
  const result = parseSystems(raw, env)
  if (!result.ok) throw new ConfigError(file, result.errors)
  return { systems: result.systems, documents: (raw as { systems: Array<{ id: string }> }).systems }
}

export async function loadSystemsFile (file: string, env: Env = process.env): Promise<SystemConfig[]> {
  return (await readSystemsFile(file, env)).systems
}

const SECRET = '***'
// '***' as redactUrl writes it: the password or lone user of a URL, or a credential parameter's value.
const MASKED_IN_URL = /^https?:\/\/(?:[^/?#@]*:)?\*\*\*@|[?&][^=&#]+=\*\*\*(?:[&#]|$)/i
// Keys whose literal values are secrets wherever they appear (auth fields, query parameters …).
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|^keys$/i
// An ${ENV} reference names a secret without revealing it, so it is shown as written.
const REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/

function mask (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(mask)
  if (typeof value === 'string') return REFERENCE.test(value) ? value : SECRET
  return value
}

/**
 * A system document as stored (with its ${ENV} references, never their values), safe for API
 * responses and logs: literal values under secret-looking keys and passwords in URLs become
 * '***'; lists keep their length so users can count their keys.
 */
export function redactDocument (document: unknown, parent = ''): unknown {
  if (Array.isArray(document)) return document.map(d => redactDocument(d))
  if (typeof document === 'string') return redactUrl(document)
  if (document === null || typeof document !== 'object') return document
  return Object.fromEntries(Object.entries(document).map(([k, v]) => {
    // A header auth's value is its secret; elsewhere `value` is ordinary (static mappings).
    const secret = SECRET_KEY.test(k) || (parent === 'auth' && k === 'value')
    return [k, secret && (typeof v === 'string' || Array.isArray(v)) ? mask(v) : redactDocument(v, k)]
  }))
}

// The value under `key` of an object or array, else undefined.
const child = (parent: unknown, key: PropertyKey) => parent !== null && typeof parent === 'object' ? (parent as Record<PropertyKey, unknown>)[key] : undefined

/** Where a base URL sends what it is given: its origin, or the text itself (a ${NAME}). */
const originOf = (url: unknown) => typeof url === 'string' ? (URL.parse(url)?.origin ?? url) : undefined

/**
 * A document as sent back after GET showed it: where a value is what the stored document's value
 * at that place is shown as (a secret as '***', a URL with its credentials masked), the stored
 * value is kept, so a system can be read, edited and put back. A '***' with no secret stored
 * behind it is an issue at its path: it would otherwise become the secret itself. Nor is a
 * secret kept for a document whose baseUrl points elsewhere: a key allowed to write systems,
 * but never shown a secret, would otherwise send it to a host of its choosing. (Webhook
 * secrets are only compared with what senders present, never sent, so they stay.)
 */
export function restoreSecrets (sent: unknown, stored: unknown): { value: unknown, issues: Issue[] } {
  const issues: Issue[] = []
  const from = originOf(child(stored, 'baseUrl'))
  const to = originOf(child(sent, 'baseUrl'))
  const moved = stored !== undefined && from !== to
  const walk = (value: unknown, kept: unknown, shown: unknown, path: PropertyKey[]): unknown => {
    if (typeof value === 'string') {
      if (typeof kept === 'string' && value === shown && value !== kept) {
        if (!moved || path[0] === 'webhooks') return kept
        issues.push({ path: formatPath(path), message: `a stored secret is kept only while baseUrl stays at ${from}: send the secret itself to use it with ${to}` })
        return value
      }
      // A bare '***', or one where a URL's credentials go, that did not match what GET showed.
      if (value === SECRET || MASKED_IN_URL.test(value)) issues.push({ path: formatPath(path), message: "'***' is how the hub shows a stored secret, and none is stored here: send the secret, or a ${HUB_SECRET_*} reference" })
      return value
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, child(kept, i), child(shown, i), [...path, i]))
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, child(kept, k), child(shown, k), [...path, k])]))
    }
    return value
  }
  const value = walk(sent, stored, stored === undefined ? undefined : redactDocument(stored), [])
  return { value, issues }
}

// Credentials can also be written into a URL: https://user:pass@host (a user alone is usually a
// token), ?access_token=…. Masked as text, so ${NAME} references elsewhere in it stay readable.
function redactUrl (raw: string): string {
  const url = raw.replace(/^(https?:\/\/)([^/?#@:]*)(?::([^/?#@]*))?@/i, (_m, scheme: string, user: string, password?: string) =>
    password === undefined ? `${scheme}${SECRET}@` : `${scheme}${user}:${SECRET}@`)
  return maskSecretParams(url, SECRET)
}
