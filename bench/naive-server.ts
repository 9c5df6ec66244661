// The baseline the ingest benchmark compares against: one pg-boss send() per webhook.
import Fastify from 'fastify'
import { PgBoss } from 'pg-boss'

const boss = new PgBoss({ connectionString: process.env.DATABASE_URL!, max: 20 })
boss.on('error', () => {})
await boss.start()
await boss.createQueue('naive')
const app = Fastify()
app.post('/hooks', async (request, reply) => {
  const { scope, id } = request.body as { scope: string, id: string }
  await boss.send('naive', { scope, id })
  return reply.code(202).send({ accepted: 1 })
})
const address = await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
console.log(address)
process.once('SIGTERM', () => { app.close().then(() => boss.stop({ graceful: false })).then(() => process.exit(0)) })
