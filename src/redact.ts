// Secrets are redacted by value from every string the hub writes out: error messages and history
// (stored), job outputs, debug traces and log lines. Key names alone miss too much: a header auth
// can have any name, a token can sit in a path or a query string, and a system can echo a
// credential back in its own error message.

export const CENSOR = '[redacted]'
// Shorter values would censor ordinary words everywhere; no real credential is this short.
const MIN_LENGTH = 4

/** Query parameter names whose values are credentials (access_token, api_key, X-Amz-Signature, sig …). */
export const SECRET_PARAM = /token|key|secret|passw|pwd|signature|auth(?!or)|credential|session|^(sig|pass)$/i

const byOwner = new Map<object, string[]>()
let known: RegExp | undefined

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

function compile (): void {
  const forms = new Set<string>()
  for (const values of byOwner.values()) {
    for (const v of values) {
      if (v.length < MIN_LENGTH) continue
      // As written, as a URL carries it, and as a JSON string does (log lines are JSON).
      forms.add(v).add(encodeURIComponent(v)).add(JSON.stringify(v).slice(1, -1))
    }
  }
  // Longest first, so a secret that contains another is censored whole.
  known = forms.size ? new RegExp([...forms].sort((a, b) => b.length - a.length).map(escape).join('|'), 'g') : undefined
}

/**
 * The secret values `owner` (a system registry) knows, replacing what it set before. The process
 * redacts the union of all owners: one process's log lines are one stream.
 */
export function setSecrets (owner: object, values: string[]): void {
  byOwner.set(owner, values)
  compile()
}

export function dropSecrets (owner: object): void {
  if (byOwner.delete(owner)) compile()
}

// Userinfo in a URL: https://user:pass@host.
const USERINFO = /\b(https?:\/\/)[^\s/?#@"'<>\\]+@/gi
const PARAM = /([?&])([^\s=&#?"'<>\\]+)=([^\s&#"'<>\\]*)/g

// A config's ${NAME} reference names a secret without revealing it.
const REFERENCE = /^\$\{\w+\}$/

/** Mask the values of credential-looking query parameters in any text that holds a query. */
export function maskSecretParams (text: string, censor = CENSOR): string {
  if (!text.includes('=')) return text
  return text.replace(PARAM, (whole, sep: string, name: string, value: string) =>
    value !== '' && SECRET_PARAM.test(name) && !REFERENCE.test(value) ? `${sep}${name}=${censor}` : whole)
}

/** Known secret values censored, URL userinfo removed, credential-looking query values masked. */
export function redactText (text: string): string {
  let out = known ? text.replace(known, CENSOR) : text
  if (out.includes('@')) out = out.replace(USERINFO, '$1')
  return maskSecretParams(out)
}

/** A copy with redactText applied to every string inside. */
export function redactDeep<T> (value: T): T {
  if (typeof value === 'string') return redactText(value) as T
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(redactDeep) as T
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T
}
