import { readFileSync } from 'node:fs'
import { findPackageJSON } from 'node:module'

// Read rather than imported as JSON: compiling an import of ../package.json would copy a second
// package.json into dist/. Found by walking up: this file runs as src/version.ts in the
// repository, as dist/src/version.js in the package.
export const { version } = JSON.parse(readFileSync(findPackageJSON(import.meta.url)!, 'utf8')) as { version: string }
