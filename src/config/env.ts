import { z } from 'zod'

const MAX_KEEP_DAYS = 36_500

// Everything the process reads from its environment, validated once at start.
const envSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' }).optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  HUB_ROLE: z.enum(['api', 'worker', 'all']).default('all'),
  // Worker processes an `all` process forks (src/worker-process.ts).
  HUB_WORKERS: z.coerce.number().int().min(0).max(16).default(1),
  HUB_ADMIN_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  HUB_DATA_DIR: z.string().min(1).default('./.hub'),
  HUB_CONFIG: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HUB_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  HUB_MAX_EVENT_LOOP_DELAY_MS: z.coerce.number().int().min(0).default(1_000),
  // GET /metrics answers without an admin key (for a scraper inside a private network).
  HUB_METRICS_OPEN: z.enum(['true', 'false']).default('false').transform(v => v === 'true'),
  // Retention, in days (jobs/maintenance.ts): failures are kept longest, for replay and audits.
  // At most 100 years: PostgreSQL's timestamps end at 294276 AD, and a longer interval made the
  // maintenance delete fail ('timestamp out of range') rather than keep everything.
  HUB_KEEP_TRACES_DAYS: z.coerce.number().int().min(1).max(MAX_KEEP_DAYS).default(7),
  HUB_KEEP_HISTORY_DAYS: z.coerce.number().int().min(1).max(MAX_KEEP_DAYS).default(90),
  HUB_KEEP_ERRORS_DAYS: z.coerce.number().int().min(1).max(MAX_KEEP_DAYS).default(365)
})

export type Env = z.infer<typeof envSchema>

export class EnvError extends Error {}

/** Parse the environment; an empty string counts as unset (as `FOO= node ...` means to a user). */
export function parseEnv (source: NodeJS.ProcessEnv = process.env): Env {
  const raw: Record<string, string> = {}
  for (const key of Object.keys(envSchema.shape)) {
    const value = source[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  const result = envSchema.safeParse(raw)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const name = String(issue.path[0])
  const shown = name === 'HUB_ADMIN_KEY' || name === 'DATABASE_URL' ? '' : ` (got ${JSON.stringify(raw[name])})`
  throw new EnvError(`invalid environment variable ${name}: ${issue.message}${shown}`)
}
