import { z } from 'zod'

// PostgreSQL's text cannot hold NUL, and UTF-8 cannot hold a lone surrogate: either raises an
// error inside the statement that carries it. A btree entry also tops out near 2.7 KB. So every
// client string bound for the database is checked here, at the edge, and fails as that
// request's own 400 instead of failing a statement (or a group commit) shared with others.

/** Why `value` cannot be stored as an identifier or text, or undefined when it can. */
export function textProblem (value: string, max: number): string | undefined {
  if (value.length > max) return `longer than ${max} characters`
  if (value.includes('\u0000')) return 'contains a NUL character'
  if (!value.isWellFormed()) return 'contains an unpaired surrogate (not valid Unicode)'
  return undefined
}

/** A string the database can store and index: at most `max` characters, no NUL, valid Unicode. */
export const storableText = (max = 1_000) => z.string().check(ctx => {
  const problem = textProblem(ctx.value, max)
  if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value })
})

export const MAX_ID = 255

/** A record id as systems send it: 1-255 characters, trimmed, storable. */
export const recordId = () => z.string().trim().min(1, 'must not be empty').pipe(storableText(MAX_ID))
