import { readFile } from 'node:fs/promises'
import t from 'tap'

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
