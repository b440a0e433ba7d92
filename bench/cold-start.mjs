#!/usr/bin/env node
// Benchmark 6: CLI cold start against bare `node -e 0` (hyperfine -N): `--version` (oclif), and the commands on the
// fast path (no oclif: `list`, `status <id>`, `logs <id>`, `share <id>`), logs and share also through oclif
// (PREVIEW_NO_FAST_START=1) for comparison, in a temp repo with one preview started on the local provider. Writes
// the `cold-start` section of bench/RESULTS.md.
//
//   npm run build && node bench/cold-start.mjs [--runs 20]
import os from 'node:os'
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
    const oclif = `env PREVIEW_NO_FAST_START=1 node ${BIN}`
    const commands = [
      `node -e 0`,
      `node ${BIN} --version`,
      `node ${BIN} list`,
      `node ${BIN} status ${id}`,
      `node ${BIN} status ${id} --json`,
      `node ${BIN} logs ${id}`,
      `node ${BIN} logs ${id} --json`,
      `${oclif} logs ${id}`,
      `node ${BIN} share ${id}`, // each run mints a link (a state write and an audit append): the real work
      `node ${BIN} share ${id} --json`,
      `${oclif} share ${id}`,
    ]
    const results = hyperfine(commands, {
      cwd: repo.dir,
      runs: RUNS,
      warmup: 3,
    })
    const base = results[0]
    const over = (r) => `${r.medianMs >= base.medianMs ? '+' : '-'}${ms(Math.abs(r.medianMs - base.medianMs))}`
    const rows = results.map((r) => [
      `\`${r.command.replace(BIN, 'bin/run.js').replace(id, '<id>')}\``,
      ms(r.medianMs),
      `${ms(r.meanMs)} ± ${r.stddevMs.toFixed(0)}`,
      ms(r.userMs),
      r === base ? '' : over(r),
      r === base ? '' : `+${ms(r.userMs - base.userMs)}`,
    ])
    // On a shared machine the bench may run at a raised priority (`nice -n -10 node bench/cold-start.mjs`): say so.
    const nice = os.getPriority()
    const priority = nice === 0 ? '' : ` Run at nice ${nice} (the machine was shared with other work).`
    const body = `hyperfine -N, ${RUNS} runs after 3 warm-ups, cwd = a temp repo with one running preview (local provider, token auth).${priority}

${table(['command', 'wall median', 'wall mean ± sd', 'user CPU', 'wall over `node -e 0`', 'user CPU over `node -e 0`'], rows)}

Target (issue 17): the everyday commands within 100 ms of \`node -e 0\`. \`list\`, \`status\`, \`logs\` and \`share\` take the
fast path (bin/run.js -> src/cli/fast-commands.ts: no oclif); the \`env PREVIEW_NO_FAST_START=1\` rows are the same
commands through oclif, and \`--version\` always goes through it: the difference is loading \`@oclif/core\`. \`share\`
also mints a link on every run: jose's signing module (~10 ms; its index was ~45 ms), a locked state write, an audit append. On a
loaded machine (load average above) the wall figures swing with the load and \`node -e 0\` itself slows down; user
CPU is the steadier measure of what a command itself costs.`
    // The target is for the everyday commands as users run them (the fast path), not for --version or the oclif rows.
    const everyday = (r) => !r.command.includes('PREVIEW_NO_FAST_START') && !r.command.includes('--version')
    writeSection('cold-start', '6. CLI cold start against bare `node -e 0`', 'npm run build && node bench/cold-start.mjs', body, results.slice(1).map((r) => ({
      figure: `cold start \`${r.command.replace(BIN, 'bin/run.js').replace(id, '<id>')}\` (node -e 0: ${ms(base.medianMs)})`,
      ...(everyday(r) ? {met: r.medianMs - base.medianMs <= 100, target: '<= +100 ms'} : {}),
      value: `${ms(r.medianMs)} (${over(r)}; user CPU +${ms(r.userMs - base.userMs)})`,
    })))
    for (const r of rows) console.log(r.join('  '))
  } finally {
    if (id) await runCli(['stop', '--all'], {cwd: repo.dir})
    await waitFor(() => pidsInside(repo.dir).length === 0, 10_000)
    repo.cleanup()
  }
}

await main()
