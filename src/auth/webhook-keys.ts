import { createHash } from 'node:crypto'

// Webhook keys are stored as their SHA-256 digest, written `sha256:<64 hex digits>`: the hub only
// ever compares digests, so a database dump does not hand out keys that admit webhooks. A key in
// a config file or document may be written in that form already.
const DIGEST = /^sha256:([0-9a-f]{64})$/

export const digest = (s: string) => createHash('sha256').update(s).digest()

/** The digest a configured key stands for (its own, or the one it is written as). */
export function keyDigest (key: string): Buffer {
  const hashed = DIGEST.exec(key)
  return hashed ? Buffer.from(hashed[1], 'hex') : digest(key)
}

/** A key as stored: literal keys become their digest; ${NAME} references stay as written. */
const storedKey = (key: unknown) => typeof key === 'string' && !key.includes('${') && !DIGEST.test(key)
  ? `sha256:${digest(key).toString('hex')}`
  : key

/** A system document with its literal webhook keys replaced by their digests. */
export function hashWebhookKeys<T> (document: T): T {
  const doc = document as { webhooks?: { keys?: unknown } }
  if (!doc?.webhooks || !Array.isArray(doc.webhooks.keys)) return document
  return { ...doc, webhooks: { ...doc.webhooks, keys: doc.webhooks.keys.map(storedKey) } } as T
}
