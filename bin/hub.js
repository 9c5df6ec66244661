#!/usr/bin/env node
// The `hub` command (and `npm start`, which runs `hub start`). Plain JavaScript, so that an old
// Node reaches this check instead of failing on a .ts file or a dependency's newer API.
import { existsSync } from 'node:fs'

// 22.18 is the first 22.x to strip types by default; undici 8 needs 22.19.
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`hub: the hub needs Node >= 22.19 (24 recommended); this is Node ${process.versions.node}: ` +
    'install Node 24 with "nvm install 24", or with "npm install --prefix ~/.node24 node@24" and put ~/.node24/node_modules/.bin first on PATH\n')
  process.exit(2)
}

// The repository runs its TypeScript; the package ships JavaScript compiled into dist/ instead
// (Node does not strip types under node_modules), and no .ts.
const source = new URL('hub.ts', import.meta.url)
import(existsSync(source) ? source.href : new URL('../dist/bin/hub.js', import.meta.url).href)
