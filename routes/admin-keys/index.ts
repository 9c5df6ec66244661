import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { adminScopes, generateKey, missingScopes, putAdminKey, revokeAdminKey } from '../../src/auth/admin-keys.ts'
import { conflict, forbidden, notFound } from '../../src/errors.ts'
import { storableText } from '../../src/models/text.ts'
import { adminErrors, bodyErrors, errorResponses, noContent, timestamp } from '../../src/http/schemas.ts'

const keyInfo = z.object({
  name: z.string(),
  scopes: z.array(z.enum(adminScopes)),
  createdAt: timestamp,
  lastUsedAt: timestamp.nullable()
})

// Admin keys are managed over the API by holders of existing keys; the bootstrap key comes
// from HUB_ADMIN_KEY or is generated at first start.
const adminKeys: FastifyPluginAsyncZod = async (fastify) => {
  const { pool } = fastify.hub

  fastify.get('/', {
    preHandler: fastify.requireScope('read'),
    schema: { tags: ['admin'], summary: 'List admin keys (never the keys themselves)', security: [{ adminKey: [] }], response: { 200: z.object({ keys: z.array(keyInfo) }), ...errorResponses(...adminErrors) } }
  }, async () => {
    const { rows } = await pool.query(
      `SELECT name, scopes, to_json(created_at)#>>'{}' AS "createdAt", to_json(last_used_at)#>>'{}' AS "lastUsedAt"
       FROM hub.admin_keys ORDER BY name`)
    return { keys: rows }
  })

  fastify.post('/', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['admin'],
      summary: 'Create an admin key; the key is returned once',
      security: [{ adminKey: [] }],
      body: z.strictObject({
        name: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'letters, digits, _ . - only, at most 64'),
        scopes: z.array(z.enum(adminScopes)).min(1)
      }),
      response: {
        201: z.object({ name: z.string(), scopes: z.array(z.enum(adminScopes)), key: z.string() }),
        ...errorResponses(...bodyErrors, ...adminErrors, 409)
      }
    }
  }, async (request, reply) => {
    const { name, scopes } = request.body
    const missing = missingScopes(request.adminKey!, scopes)
    if (missing.length) throw forbidden(`scopes: this key cannot grant ${missing.map(m => `'${m}'`).join(', ')}, which it does not hold`)
    const { rowCount } = await pool.query('SELECT 1 FROM hub.admin_keys WHERE name = $1', [name])
    if (rowCount) throw conflict(`an admin key named '${name}' exists`)
    const key = generateKey()
    await putAdminKey(pool, name, key, scopes)
    return reply.code(201).send({ name, scopes, key })
  })

  fastify.delete('/:name', {
    preHandler: fastify.requireScope('delete'),
    schema: {
      tags: ['admin'],
      summary: 'Revoke an admin key',
      security: [{ adminKey: [] }],
      params: z.object({ name: storableText(64) }),
      response: { 204: noContent('Revoked'), ...errorResponses(...adminErrors, 404, 409) }
    }
  }, async (request, reply) => {
    const outcome = await revokeAdminKey(pool, request.params.name)
    if (outcome === 'not_found') throw notFound(`no admin key named '${request.params.name}'`)
    if (outcome === 'last_full_key') throw conflict(`'${request.params.name}' is the last key with every scope (${adminScopes.join(', ')}); create another such key first`)
    return reply.code(204).send()
  })
}

export default adminKeys
