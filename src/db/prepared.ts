import { createHash } from 'node:crypto'

const names = new Map<string, string>()

/**
 * A statement PostgreSQL parses and plans once per connection: the pipeline's hot statements
 * run thousands of times a minute, and planning them each time cost as much as running them
 * (pg_stat_statements on the end-to-end bench). Pass the result with `values` to `query`.
 */
export function prepared (text: string): { name: string, text: string } {
  let name = names.get(text)
  if (!name) names.set(text, name = 'hub_' + createHash('sha1').update(text).digest('hex').slice(0, 16))
  return { name, text }
}
