import { randomBytes, timingSafeEqual } from 'node:crypto'
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

// Senders present the same few keys on every webhook, and hashing one is the costliest step of
// the check: remember the digests of keys that matched. A digest is the key's alone, so this
// admits nothing by itself: the comparison with the system's current keys runs every time, and a
// key revoked or changed is refused at once. Keys that did not match are not kept, so random
// keys cannot push the senders' keys out; past the bound the oldest is forgotten (and hashed
// again when it next comes).
const MAX_REMEMBERED = 1_000
const remembered = new Map<string, Buffer>()
const presentedDigest = (token: string) => remembered.get(token) ?? digest(token)
function remember (token: string, d: Buffer): void {
  if (remembered.has(token)) return
  if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.keys().next().value!)
  remembered.set(token, d)
}

const header = (headers: IncomingHttpHeaders, name: string) => {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

// An unknown system is checked as a known one whose key and signing secret nobody has: the same
// credentials get the same 401 either way, so an unauthenticated caller cannot tell which
// systems exist.
const nobodys = {
  keys: [randomBytes(32).toString('base64url')],
  signingSecrets: ['whsec_' + randomBytes(32).toString('base64')]
}

/**
 * Admit a webhook from `system`: a Standard Webhooks signature over the raw body (any of the
 * configured secrets, so they can be rotated; the library enforces the 5-minute timestamp
 * tolerance) or one of its bearer keys. Throws 401 otherwise, and for a system that does not exist.
 */
export function authenticateWebhook (system: SystemConfig | undefined, headers: IncomingHttpHeaders, rawBody: string): asserts system is SystemConfig {
  const { keys, signingSecrets } = system?.webhooks ?? nobodys
  const signature = header(headers, 'webhook-signature')
  if (signature && signingSecrets.length) {
    const signed = { 'webhook-id': header(headers, 'webhook-id') ?? '', 'webhook-timestamp': header(headers, 'webhook-timestamp') ?? '', 'webhook-signature': signature }
    let reason = 'invalid signature'
    for (const secret of signingSecrets) {
      try {
        new Webhook(secret).verify(rawBody, signed)
        if (system) return
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
      : `system ${system!.id} has no webhook keys or signing secrets configured`)
  }
  // Compare against every key (no early exit) so timing does not reveal which one matched.
  const presented = presentedDigest(token)
  let ok = false
  for (const key of digestsOf(keys)) ok = timingSafeEqual(presented, key) || ok
  if (!ok || !system) throw unauthorized('invalid webhook key')
  remember(token, presented)
}
