// V8 sizes its heap for the machine: with gigabytes of memory its young generation grows to
// 64 MB semi-spaces, and a hub process that allocates fast (an import's chunks, a burst of
// deliveries, a million-id upload) grew to ~290-370 MB resident while holding ~40-60 MB live.
// With 16 MB semi-spaces and old space capped at 1 GB the same 300,000-row import peaks at
// ~190 MB per process, at the same speed (bench/import.ts; 8 MB: ~170 MB, no faster). `npm
// start`, the Dockerfile and the worker processes an `all` process forks run with these.
export const HEAP_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=1024']

/** HEAP_FLAGS that the given options (the process's own, NODE_OPTIONS) do not set already: a
 *  value chosen by whoever starts the hub wins. */
export function heapFlags (execArgv: string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map(f => f.split('=')[0].replaceAll('_', '-')))
  return HEAP_FLAGS.filter(f => !given.has(f.split('=')[0]))
}
