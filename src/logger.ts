import type { LoggerOptions } from 'pino'
import { redactText } from './redact.ts'

// Paths pino censors in every log line: credentials in request headers and any secret-looking
// property at the top or one level down in logged objects.
const secretKeys = ['password', 'token', 'secret', 'apiKey', 'api_key', 'key', 'authorization', 'signingSecrets', 'keys']
export const redactPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["webhook-signature"]',
  'req.headers.cookie',
  ...secretKeys.flatMap(k => [k, `*.${k}`])
]

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    // Then, on the finished line, whatever no key name gives away: the configured secrets by
    // value, URL credentials, credential-looking query values (src/redact.ts).
    hooks: { streamWrite: redactText }
  }
}
