import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { conflict, notFound } from '../../src/errors.ts'
import { adminErrors, errorResponses, noContent, timestamp } from '../../src/http/schemas.ts'
import { dataTypes } from '../../src/models/index.ts'
import { pollFlow } from '../../src/poll/run.ts'
import { readState, resetState, runningRun } from '../../src/poll/state.ts'
import { nextRun, pollTarget, triggerBatch, triggerPoll } from '../../src/poll/trigger.ts'

// Pull sync's doors, under /v1/systems/:id (routes/systems holds the systems themselves).
export const autoPrefix = '/systems'

const params = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lowercase letters, digits, _ and -, at most 63'),
  type: z.enum(dataTypes)
})

const run = z.object({
  mode: z.enum(['cursor', 'audit']),
  jobId: z.string(),
  initialize: z.boolean(),
  startedAt: timestamp,
  endedAt: timestamp.optional(),
  pages: z.number(),
  seen: z.number().describe('records listed'),
  enqueued: z.number().describe('new or changed records handed to the inbound pipeline'),
  deleted: z.number().describe('audit mode: deletes queued for records missing from a complete listing'),
  complete: z.boolean().describe('the listing reached its end'),
  cut: z.boolean().describe('stopped at the batch limit; the rest follow in the next run'),
  error: z.string().optional()
})

const triggered = z.object({
  started: z.boolean().describe('a run was queued now'),
  running: z.boolean().describe('a run was already queued or running: no second one was started'),
  jobId: z.string().optional(),
  batchId: z.string().optional().describe('follow it with GET /v1/sync/{batchId}'),
  progress: run.nullable().describe('what the running run has done so far')
})

const pollDoors: FastifyPluginAsyncZod = async (fastify) => {
  const { hub } = fastify

  fastify.get('/:id/poll', {
    preHandler: fastify.requireScope('read'),
    schema: {
      tags: ['poll'],
      summary: 'Poll state per data type: mode, schedule, running and last run, cursor, next run, last error',
      security: [{ adminKey: [] }],
      params: params.pick({ id: true }),
      response: {
        200: z.object({
          system: z.string(),
          types: z.array(z.object({
            type: z.enum(dataTypes),
            mode: z.enum(['cursor', 'audit']),
            schedule: z.string(),
            batchLimit: z.number(),
            running: run.nullable(),
            lastRun: run.nullable(),
            cursor: z.object({ token: z.string(), id: z.string() }).nullable().describe('cursor mode: the last record queued; null: the next run is a full pull'),
            nextRun: timestamp,
            lastError: z.string().nullable()
          }))
        }),
        ...errorResponses(400, 404, ...adminErrors)
      }
    }
  }, async (request) => {
    const system = await hub.systems.get(request.params.id)
    if (!system) throw notFound(`no system '${request.params.id}'`)
    const types = []
    for (const type of dataTypes) {
      const found = pollFlow(system, type)
      if (!found) continue
      const state = await readState(hub.pool, system.id, type)
      types.push({
        type,
        mode: found.poll.mode,
        schedule: found.poll.schedule,
        batchLimit: found.poll.batchLimit,
        running: await runningRun(hub.pool, state),
        lastRun: state.lastRun,
        cursor: state.cursor,
        nextRun: nextRun(found.poll.schedule),
        lastError: state.lastError
      })
    }
    return { system: system.id, types }
  })

  fastify.post('/:id/poll/:type', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['poll'],
      summary: 'Poll now; while a run is queued or running, says so (with its progress) instead of starting another',
      security: [{ adminKey: [] }],
      params,
      response: { 202: triggered, ...errorResponses(400, 404, 422, ...adminErrors) }
    }
  }, async (request, reply) => reply.code(202).send(await triggerPoll(hub, request.params.id, request.params.type)))

  fastify.delete('/:id/poll/:type/state', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['poll'],
      summary: 'Clear the last-polled state (cursor, audit hashes): the next run is a full pull',
      security: [{ adminKey: [] }],
      params,
      response: { 204: noContent('Cleared'), ...errorResponses(400, 404, 422, ...adminErrors) }
    }
  }, async (request, reply) => {
    await pollTarget(hub.systems, request.params.id, request.params.type)
    await resetState(hub.pool, request.params.id, request.params.type)
    return reply.code(204).send()
  })

  fastify.post('/:id/initialize/:type', {
    preHandler: fastify.requireScope('write'),
    schema: {
      tags: ['poll'],
      summary: 'Load every record of the type from the system (no batch limit), tracked as a manual sync batch',
      security: [{ adminKey: [] }],
      params,
      response: { 202: triggered, ...errorResponses(400, 404, 409, 422, ...adminErrors) }
    }
  }, async (request, reply) => {
    const run = await triggerBatch(hub, request.params.id, request.params.type, true)
    if (!run.started) throw conflict(`a poll of ${request.params.id} ${request.params.type} is queued or running; initialize when it has finished`, { running: true, progress: run.progress })
    return reply.code(202).send(run)
  })
}

export default pollDoors
