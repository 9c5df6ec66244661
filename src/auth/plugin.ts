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

export const adminAuth = fp(async (fastify: FastifyInstance) => {
  fastify.decorate('requireScope', (scope: AdminScope): preHandlerAsyncHookHandler => {
    return async function (request) {
      const token = bearerToken(request.headers)
      if (!token) throw unauthorized('missing admin key: send Authorization: Bearer <key>')
      const key = await findAdminKey(fastify.hub.pool, token)
      if (!key) throw unauthorized('invalid admin key')
      if (!key.scopes.includes(scope)) throw forbidden(`this key lacks the '${scope}' scope`)
      request.adminKey = key
    }
  })
})
