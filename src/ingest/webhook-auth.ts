import { timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import { Webhook } from 'standardwebhooks'
import type { SystemConfig } from '../config/systems.ts'
import { bearerToken } from '../auth/plugin.ts'
import { digest, keyDigest } from '../auth/webhook-keys.ts'
import { unauthorized } from '../errors.ts'

// Comparing digests gives equal-length inputs, so the comparison time says nothing about the
// key. The configured keys' digests, once per system config (a new config is a new array).
const keyDigests = new WeakMap<string[], Buffer[]>()
const digestsOf = (keys: string[]) => {
  let d = keyDigests.get(keys)
  if (!d) keyDigests.set(keys, d = keys.map(keyDigest))
  return d
}

const header = (headers: IncomingHttpHeaders, name: string) => {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

/**
 * Admit a webhook from `system`: a Standard Webhooks signature over the raw body (any of the
 * configured secrets, so they can be rotated; the library enforces the 5-minute timestamp
 * tolerance) or one of its bearer keys. Throws 401 otherwise.
 */
export function authenticateWebhook (system: SystemConfig, headers: IncomingHttpHeaders, rawBody: string): void {
  const { keys, signingSecrets } = system.webhooks
  const signature = header(headers, 'webhook-signature')
  if (signature && signingSecrets.length) {
    const signed = { 'webhook-id': header(headers, 'webhook-id') ?? '', 'webhook-timestamp': header(headers, 'webhook-timestamp') ?? '', 'webhook-signature': signature }
    let reason = 'invalid signature'
    for (const secret of signingSecrets) {
      try {
        new Webhook(secret).verify(rawBody, signed)
        return
      } catch (err) {
        reason = (err as Error).message
      }
    }
    throw unauthorized(`webhook signature rejected: ${reason}`)
  }
  const token = bearerToken(headers)
  if (!token) {
    throw unauthorized(keys.length || signingSecrets.length
      ? 'missing webhook credentials: send Authorization: Bearer <webhook key> or a Standard Webhooks signature'
      : `system ${system.id} has no webhook keys or signing secrets configured`)
  }
  // Compare against every key (no early exit) so timing does not reveal which one matched.
  const presented = digest(token)
  let ok = false
  for (const key of digestsOf(keys)) ok = timingSafeEqual(presented, key) || ok
  if (!ok) throw unauthorized('invalid webhook key')
}
