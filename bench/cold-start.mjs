#!/usr/bin/env node
// Benchmark 6: CLI cold start against bare `node -e 0` (hyperfine -N): `--version`, `list` (one running preview)
// and `status <id>`, in a temp repo with one preview started on the local provider. Writes the `cold-start` section
// of bench/RESULTS.md.
//
//   npm run build && node bench/cold-start.mjs [--runs 20]
import {BIN, arg, hyperfine, json, makeRepo, ms, pidsInside, requireBuild, runCli, table, waitFor, writeSection} from './lib/common.mjs'

const RUNS = arg('runs', 20)

async function main() {
  requireBuild()
  const repo = makeRepo('cold-')
  let id = null
  try {
    const start = await runCli(['start', '--provider', 'local', '--auth', 'token', '--cwd', repo.dir, '--json'], {cwd: repo.dir})
    if (start.code !== 0) throw new Error(`preview start failed: ${start.stderr}`)
    id = json(start).preview_id
    const results = hyperfine([`node -e 0`, `node ${BIN} --version`, `node ${BIN} list`, `node ${BIN} status ${id}`, `node ${BIN} status ${id} --json`], {
      cwd: repo.dir,
      runs: RUNS,
      warmup: 3,
    })
    const base = results[0]
    const rows = results.map((r) => [
      `\`${r.command.replace(BIN, 'bin/run.js').replace(id, '<id>')}\``,
      ms(r.medianMs),
      `${ms(r.meanMs)} ± ${r.stddevMs.toFixed(0)}`,
      ms(r.userMs),
      r === base ? '' : `+${ms(r.medianMs - base.medianMs)}`,
    ])
    const body = `hyperfine -N, ${RUNS} runs after 3 warm-ups, cwd = a temp repo with one running preview (local provider, token auth).

${table(['command', 'wall median', 'wall mean ± sd', 'user CPU', 'over `node -e 0`'], rows)}

No target was set for this one. Most of the gap is loading \`@oclif/core\` (its index pulls in help, ux and config
modules: see the import costs in section 1 and the profiles in section 4), then the command's own imports.`
    writeSection('cold-start', '6. CLI cold start against bare `node -e 0`', 'npm run build && node bench/cold-start.mjs', body, results.slice(1).map((r) => ({
      figure: `cold start \`${r.command.replace(BIN, 'bin/run.js').replace(id, '<id>')}\` (node -e 0: ${ms(base.medianMs)})`,
      value: `${ms(r.medianMs)} (+${ms(r.medianMs - base.medianMs)})`,
    })))
    for (const r of rows) console.log(r.join('  '))
  } finally {
    if (id) await runCli(['stop', '--all'], {cwd: repo.dir})
    await waitFor(() => pidsInside(repo.dir).length === 0, 10_000)
    repo.cleanup()
  }
}

await main()
