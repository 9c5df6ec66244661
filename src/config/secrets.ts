import { SECRET_PARAM } from '../redact.ts'
import { VARIABLE } from './load.ts'
import type { Env } from './load.ts'
import type { SystemConfig } from './systems.ts'

// A variable whose name says it holds a secret is one wherever it is used: in a path, a base URL.
const SECRET_VARIABLE = /^HUB_SECRET_|secret|token|passw|key|auth(?!or)|credential/i

/** Values of a query's credential-looking parameters; templates ({email}) are filled from records. */
function queryValues (entries: Iterable<[string, string]>): string[] {
  return [...entries].filter(([name, value]) => SECRET_PARAM.test(name) && !/\{[^{}]+\}/.test(value)).map(([, value]) => value)
}

/**
 * Every secret value a system's config holds, for redaction by value (src/redact.ts): its auth,
 * webhook keys and signing secrets, credentials in its base URL, credential-looking query values,
 * and whatever `${NAME}` in its document resolved to when NAME names a secret.
 */
export function secretsOf (system: SystemConfig, document: unknown, env: Env): string[] {
  const found = [...system.webhooks.keys]
  for (const s of system.webhooks.signingSecrets) found.push(s, s.slice('whsec_'.length))
  const { auth } = system
  if (auth.kind === 'bearer') found.push(auth.token)
  else if (auth.kind === 'basic') found.push(auth.password)
  else if (auth.kind === 'header') found.push(auth.value)
  const url = new URL(system.baseUrl)
  // A user without a password is usually a token (https://TOKEN@host).
  if (url.password || url.username) found.push(decodeURIComponent(url.password || url.username))
  found.push(...queryValues(url.searchParams))
  for (const endpoints of Object.values(system.types)) {
    for (const endpoint of Object.values(endpoints ?? {})) {
      const calls = Array.isArray(endpoint) ? endpoint.flatMap(f => [f.whenTrue, f.whenFalse]) : [endpoint]
      for (const call of calls) {
        if (call && typeof call === 'object' && 'query' in call && call.query) found.push(...queryValues(Object.entries(call.query)))
      }
    }
  }
  for (const m of JSON.stringify(document ?? null).matchAll(VARIABLE)) {
    const value = env[m[2]]
    if (!m[1] && value && SECRET_VARIABLE.test(m[2])) found.push(value)
  }
  return found
}
