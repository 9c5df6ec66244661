import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { forbidden, unauthorized } from '../errors.ts'
import { findAdminKey } from './admin-keys.ts'
import type { AdminKey, AdminScope } from './admin-keys.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler that admits a request carrying an admin key with `scope`. */
    requireScope (scope: AdminScope): preHandlerAsyncHookHandler
  }
  interface FastifyRequest { adminKey?: AdminKey }
}

export function bearerToken (headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization
  if (!header) return undefined
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
  return match?.[1]
}

/** An admin key sent as `Bearer <key>`, or as `apiKey <key>` (the form of seed 002's import script). */
export function adminToken (headers: IncomingHttpHeaders): string | undefined {
  const match = /^(?:Bearer|apiKey)\s+(\S+)\s*$/i.exec(headers.authorization ?? '')
  return match?.[1]
}

export const adminAuth = fp(async (fastify: FastifyInstance) => {
  fastify.decorate('requireScope', (scope: AdminScope): preHandlerAsyncHookHandler => {
    return async function (request) {
      const token = adminToken(request.headers)
      if (!token) throw unauthorized('missing admin key: send Authorization: Bearer <key> (or apiKey <key>)')
      const key = await findAdminKey(fastify.hub.pool, token)
      if (!key) throw unauthorized('invalid admin key')
      if (!key.scopes.includes(scope)) throw forbidden(`this key lacks the '${scope}' scope`)
      request.adminKey = key
    }
  })
})
