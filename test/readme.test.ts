import { readFile } from 'node:fs/promises'
import t from 'tap'
import YAML from 'yaml'
import { z } from 'zod'
import { parseSystems } from '../src/config/load.ts'
import { systemSchema } from '../src/config/systems.ts'

t.test("the README's references name its sections", async t => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  // A heading (*Roles* for "Roles and your own PostgreSQL"), or a paragraph's bold label.
  const headings = readme.split('\n').filter(l => l.startsWith('#')).map(l => l.replace(/^#+\s*/, '').trim())
  const labels = new Set([...readme.matchAll(/\*\*([^*]+)\*\*/g)].map(m => m[1].replace(/\.$/, '')))
  // `(*Name*` or `see *Name*`, a name possibly wrapped over two lines.
  const refs = [...readme.matchAll(/(?:\(|\bsee )\*([^*]+)\*/g)].map(m => m[1].replace(/\s+/g, ' '))
  t.ok(refs.length > 0, 'there are references')
  t.same(refs.filter(r => !labels.has(r) && !headings.some(h => h.startsWith(r))), [], 'each names a section')
})

t.test('the README documents every key of a system document', async t => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  // The schema's input side, walked as JSON Schema: every property at any depth.
  const keys = new Set<string>()
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return
    const n = node as Record<string, unknown>
    for (const [key, value] of Object.entries((n.properties ?? {}) as Record<string, unknown>)) {
      keys.add(key)
      walk(value)
    }
    for (const k of ['items', 'anyOf', 'oneOf', 'allOf', 'additionalProperties']) [n[k]].flat().forEach(walk)
  }
  walk(z.toJSONSchema(systemSchema, { io: 'input', unrepresentable: 'any' }))
  t.ok(keys.has('fullRecords') && keys.has('probeAfterMs'), 'nested keys are found')
  // Named in code (`key`) or set in one of the YAML examples (key: …).
  const missing = [...keys].filter(key => !readme.includes(`\`${key}\``) && !new RegExp(`[\\s{,]${key}:`).test(readme))
  t.same(missing, [], 'each is in the README')
})

t.test("the README's system examples load as written", async t => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const examples = [...readme.matchAll(/```yaml\n(systems:\n[\s\S]*?)```/g)].map(m => m[1])
  t.equal(examples.length, 2, 'the reference and the pull sync example')
  for (const text of examples) {
    // Each ${NAME} set to a value its place accepts.
    const env = Object.fromEntries([...text.matchAll(/\$\{(\w+)\}/g)].map(([, name]) => [name,
      /URL/.test(name) ? 'https://shop.example.com' : /SECRET/.test(name) ? 'whsec_' + Buffer.alloc(32, 7).toString('base64') : 'k'.repeat(24)]))
    const parsed = parseSystems(YAML.parse(text, { merge: true }), env)
    t.same(parsed.ok ? [] : parsed.errors, [], `${/id: (\S+)/.exec(text)?.[1]} loads`)
  }
})
