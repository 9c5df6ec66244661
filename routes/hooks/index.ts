import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { badRequest } from '../../src/errors.ts'
import { bodyErrors, errorResponses } from '../../src/http/schemas.ts'
import { eventIdOf, readEvents, standardBody } from '../../src/ingest/events.ts'
import { groupCommit } from '../../src/ingest/group-commit.ts'
import type { Receipt } from '../../src/ingest/group-commit.ts'
import { authenticateWebhook } from '../../src/ingest/webhook-auth.ts'
import { inboundRow } from '../../src/pipeline/jobs.ts'

declare module 'fastify' {
  interface FastifyRequest { rawBody?: string }
}

const BODY_LIMIT = 1024 * 1024

// The receipt is group-commit's own three counts: written out directly rather than checked
// against its schema and stringified on every webhook. Error answers take the usual path.
const writeReceipt = (r: Receipt) => `{"accepted":${r.accepted},"coalesced":${r.coalesced},"duplicates":${r.duplicates}}`

const hooks: FastifyPluginAsyncZod = async (fastify) => {
  const { hub } = fastify
  const ingest = groupCommit(hub.pool, hub.boss)

  // Signatures are over the exact bytes received, so keep them next to the parsed body.
  // Bytes that are not UTF-8 would otherwise decode to U+FFFD and become an id nobody sent.
  const utf8 = new TextDecoder('utf-8', { fatal: true })
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (request, body, done) => {
    let text: string
    try {
      text = utf8.decode(body as Buffer)
    } catch {
      done(badRequest('the body is not valid UTF-8'), undefined)
      return
    }
    request.rawBody = text
    try {
      done(null, JSON.parse(text))
    } catch (err) {
      done(Object.assign(err as Error, { statusCode: 400 }), undefined)
    }
  })

  fastify.post('/:system', {
    bodyLimit: BODY_LIMIT,
    // Senders add their own query parameters to a webhook's URL (a topic, a tracking tag): a
    // webhook refused for one is a change lost where the sender does not retry.
    config: { lenientQuery: true },
    schema: {
      tags: ['hooks'],
      summary: 'A system tells the hub that records changed',
      description: 'Body: `{scope, id, debug?}`, an array of up to 1,000 of them, or the system\'s own payload when it has an `extract` expression. ' +
        'Authenticated by one of the system\'s webhook keys (`Authorization: Bearer`) or a Standard Webhooks signature. ' +
        'Redeliveries with the same `webhook-id` or `Idempotency-Key` are counted as duplicates. Answers once the events are committed (to the webhook backlog, which becomes inbound jobs as each system has room; debug items become jobs at once).',
      security: [{ webhookKey: [] }],
      params: z.object({ system: z.string() }),
      documentedBody: {
        'application/json': z.union([standardBody, z.unknown().describe("any other JSON: the system's own payload, which its `extract` expression reduces to events")])
      },
      response: {
        202: z.object({ accepted: z.number(), coalesced: z.number(), duplicates: z.number() }).describe('Stored: every event is committed; `coalesced` of them joined a fetch of the same record already waiting'),
        ...errorResponses(...bodyErrors, 401, 503)
      }
    }
  }, async (request, reply) => {
    const system = await hub.systems.get(request.params.system)
    authenticateWebhook(system, request.headers, request.rawBody ?? '')
    const jobs = await readEvents(system, request.body)
    const receipt = await ingest.submit({
      systemId: system.id,
      eventId: eventIdOf(request.headers),
      rows: jobs.map(job => inboundRow(job, system))
    })
    return reply.code(202).type('application/json; charset=utf-8').serializer(writeReceipt).send(receipt)
  })
}

export default hooks
