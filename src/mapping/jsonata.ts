import jsonata from 'jsonata'

// Expressions come from config and run once per record; parsing them each time would
// dominate a bulk sync. The cap only matters if systems are re-configured endlessly.
const MAX_CACHED = 1000
const cache = new Map<string, jsonata.Expression>()

/** JSONata's errors are objects with a code and a position; make them one readable line. */
export function describeJsonataError (err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err) {
    const e = err as { message: unknown, code?: unknown, position?: unknown }
    const where = typeof e.position === 'number' ? ` at position ${e.position}` : ''
    const code = typeof e.code === 'string' ? ` (${e.code}${where})` : ''
    return `${String(e.message)}${code}`
  }
  return String(err)
}

/** Parse once, reuse after; throws an Error carrying JSONata's message when it does not compile. */
export function compile (source: string): jsonata.Expression {
  let expr = cache.get(source)
  if (expr) return expr
  try {
    expr = jsonata(source)
  } catch (err) {
    throw new Error(describeJsonataError(err), { cause: err })
  }
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string)
  cache.set(source, expr)
  return expr
}

/** Evaluate against `input`; runtime errors are rethrown as Errors with JSONata's message. */
export async function evaluate (source: string, input: unknown, bindings?: Record<string, unknown>): Promise<unknown> {
  const expr = compile(source)
  try {
    return await expr.evaluate(input, bindings)
  } catch (err) {
    throw new Error(describeJsonataError(err), { cause: err })
  }
}
