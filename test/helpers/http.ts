import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Test } from 'tap'

export interface Received { method: string, url: string, headers: IncomingMessage['headers'], body: string }

/**
 * A real HTTP server on 127.0.0.1 standing in for an external system: records every request and
 * answers with `handler` (default 200 {}). Closed when the test ends.
 */
export async function startHttpServer (t: Test, handler?: (req: Received, res: ServerResponse) => void | Promise<void>): Promise<{ url: string, received: Received[] }> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', async () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() }
      received.push(r)
      if (handler) await handler(r, res)
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}`, received }
}
