import { createServer } from 'node:net'

/**
 * A TCP port free on loopback at the time of the call, picked by the OS. Another process could
 * take it before the caller listens, so use it only where listening on port 0 is not possible
 * (a child process or server that must be told its port up front).
 */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}
