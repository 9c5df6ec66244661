import { Transform } from 'node:stream'
import { HubError } from '../errors.ts'

/**
 * A pass-through that fails with 413 once more than `max` bytes went by. Fastify applies its
 * bodyLimit only to bodies it reads itself; a body handed on as a stream needs its own.
 */
export function byteLimit (max: number): Transform {
  let seen = 0
  return new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > max) callback(new HubError(413, 'payload_too_large', `the body is larger than ${max} bytes`))
      else callback(null, chunk)
    }
  })
}
