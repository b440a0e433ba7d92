#!/usr/bin/env node
// `preview start` is the one command whose speed users feel on every run, so it gets two shortcuts (both off with
// PREVIEW_NO_FAST_START=1, which also sends list/status/stop/logs/share through oclif):
// - the supervisor is spawned now, before anything else loads, so its Node cold start overlaps this one's
//   (src/core/supervisor/prewarm.ts);
// - the start itself runs without loading oclif when its flags are plain (src/cli/fast-start.ts: same flag table,
//   same body, same errors); help, --foreground, --list-commands and anything unusual go to oclif as usual.
const argv = process.argv.slice(2)
if (process.platform === 'win32') {
  // Dev servers run in their own process groups, signalled as a group on stop; Windows has neither groups nor
  // those signals, so `stop` could not promise to leave nothing behind.
  process.stderr.write(
    'Error: preview does not run on Windows: it needs POSIX process groups and signals to stop a dev server and everything it started.\n\nRun it under WSL 2 (Linux), or on Linux or macOS.\n',
  )
  process.exit(2)
}

const detachedStart =
  argv[0] === 'start' && !argv.some((a) => ['--foreground', '--list-commands', '--help', '-h'].includes(a))
if (detachedStart && !process.env.PREVIEW_NO_FAST_START) {
  const {prewarmSupervisor} = await import('../dist/core/supervisor/prewarm.js')
  prewarmSupervisor()
  const {runFastStart} = await import('../dist/cli/fast-start.js')
  const code = await runFastStart(argv.slice(1))
  if (code !== null) {
    process.exitCode = code
  } else {
    await runOclif()
  }
} else if (['list', 'status', 'stop', 'logs', 'share'].includes(argv[0]) && !process.env.PREVIEW_NO_FAST_START) {
  // list, status, stop, logs and share answer plain invocations without oclif too (src/cli/fast-commands.ts).
  const {runFastCommand} = await import('../dist/cli/fast-commands.js')
  const code = await runFastCommand(argv[0], argv.slice(1))
  if (code !== null) process.exitCode = code
  else await runOclif()
} else {
  await runOclif()
}

async function runOclif() {
  // oclif's execute(), with errors before a command runs rendered as the commands render theirs (--json included).
  const {runOclif: run} = await import('../dist/cli/run-oclif.js')
  await run(process.argv.slice(2), import.meta.url)
}
