import t from 'tap'
import { EnvError, parseEnv } from '../src/config/env.ts'

t.test('defaults apply when the environment is empty', async t => {
  const env = parseEnv({})
  t.equal(env.PORT, 8080)
  t.equal(env.HUB_ROLE, 'all')
  t.equal(env.HUB_DATA_DIR, './.hub')
  t.equal(env.DATABASE_URL, undefined)
  t.equal(env.LOG_LEVEL, 'info')
})

t.test('an empty string counts as unset', async t => {
  t.equal(parseEnv({ PORT: '', HUB_ROLE: '' }).PORT, 8080)
})

t.test('each invalid variable is named in one line', async t => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /^invalid environment variable PORT: .*"eighty"/],
    [{ PORT: '70000' }, /^invalid environment variable PORT:/],
    [{ HUB_ROLE: 'both' }, /^invalid environment variable HUB_ROLE: .*"api"\|"worker"\|"all"/],
    [{ DATABASE_URL: 'mysql://localhost/x' }, /^invalid environment variable DATABASE_URL: must be a postgres/],
    [{ LOG_LEVEL: 'loud' }, /^invalid environment variable LOG_LEVEL:/],
    [{ HUB_ADMIN_KEY: 'short' }, /^invalid environment variable HUB_ADMIN_KEY: must be at least 16/],
    // Longer than PostgreSQL's timestamps reach: the maintenance delete would fail every hour.
    [{ HUB_KEEP_ERRORS_DAYS: '100000000' }, /^invalid environment variable HUB_KEEP_ERRORS_DAYS: .*36500/]
  ]
  for (const [env, message] of cases) {
    t.throws(() => parseEnv(env), { constructor: EnvError, message }, JSON.stringify(env))
  }
})

t.test('a secret is never echoed in the error', async t => {
  let message = ''
  try { parseEnv({ HUB_ADMIN_KEY: 'tooshort' }) } catch (err) { message = (err as Error).message }
  t.match(message, /HUB_ADMIN_KEY/)
  t.notMatch(message, /tooshort/)
})
