#!/usr/bin/env node
// `preview start` would pay two Node cold starts in series (this CLI, then the detached supervisor) before the
// dev server even spawns: start the supervisor now, while oclif loads, and hand it the spec when the start
// command gets there (see src/core/preview/prewarm.ts). PREVIEW_NO_PREWARM=1 turns it off.
const argv = process.argv.slice(2)
const detachedStart =
  argv[0] === 'start' && !argv.some((a) => ['--foreground', '--list-commands', '--help', '-h'].includes(a))
if (detachedStart && !process.env.PREVIEW_NO_PREWARM) {
  const {prewarmSupervisor} = await import('../dist/core/preview/prewarm.js')
  prewarmSupervisor()
}

const {execute} = await import('@oclif/core/execute')
await execute({dir: import.meta.url})
