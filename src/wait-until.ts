/**
 * Polls `check` until it returns a truthy value and returns that value; throws
 * `gave up waiting for <what>` after `timeoutMs`. For scripts that wait on another process
 * (a server becoming ready, records arriving), where there is no event to wait on.
 */
export async function waitUntil<T> (what: string, check: () => T | Promise<T>,
  { timeoutMs = 30_000, everyMs = 100 }: { timeoutMs?: number, everyMs?: number } = {}): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}
