import { CommanderError } from 'commander'
import type { Command } from 'commander'

/**
 * Parse a script's options as bin/hub.ts does: --help prints the usage and exits 0, a usage
 * error is commander's one line and exits 2.
 */
export function parseOptions<T> (program: Command): T {
  try {
    program.exitOverride().parse()
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err
    process.exit(err.exitCode === 0 ? 0 : 2)
  }
  return program.opts() as T
}
