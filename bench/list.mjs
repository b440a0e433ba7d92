#!/usr/bin/env node
// Benchmark 4: `preview list` with 1,000 rows. Writes a state.json of --rows realistic rows into a temp repo (half
// of them with a live supervisor pid and its real start time, half with a dead pid, so list reconciles both kinds),
// then times `node bin/run.js list` and `list --json` with hyperfine, next to `list` on an empty registry and bare
// `node -e 0`. Writes the `list` section of bench/RESULTS.md.
//
//   npm run build && node bench/list.mjs [--rows 1000] [--runs 20]
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {summarise} from './lib/cpuprofile.mjs'
import {BIN, CLI_ENV, arg, median, hyperfine, makeRepo, ms, requireBuild, runCli, table, verdict, writeSection} from './lib/common.mjs'

const ROWS = arg('rows', 1000)
const RUNS = arg('runs', 20)
const TARGET_MS = 300

/** A pid that is not running (and was not recently: taken well above the current pid range). */
function deadPid(i) {
  return 3_000_000 + i
}

function startTimeOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
}

/** One row as a running supervisor writes it (see src/core/records/types.ts). */
function row(i, repoDir, live) {
  const id = `p-${randomBytes(4).toString('hex')}`
  const session = `ws-20261123-0800${String(i % 60).padStart(2, '0')}-${randomBytes(3).toString('hex')}`
  const now = Math.floor(Date.now() / 1000)
  const port = 20000 + (i % 40000)
  const jti = randomBytes(16).toString('base64url')
  const token = `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify({exp: now + 14400, iat: now, jti, sub: id})).toString('base64url')}.${randomBytes(32).toString('base64url')}`
  return {
    auth_mode: 'token',
    command: i % 3 === 0 ? 'npm run dev' : i % 3 === 1 ? 'pnpm dev' : 'node server.js',
    commit: randomBytes(20).toString('hex'),
    created_at_epoch: now - (i % 3600),
    cwd: path.join(repoDir, '.sdd', 'worktrees', session),
    expires_at_epoch: now + 14400 - (i % 3600),
    gateway_port: port + 1,
    links: [{auth_mode: 'token', created_at_epoch: now - (i % 3600), expires_at_epoch: now + 14400, jti, revoked: false}],
    log_file: path.join(repoDir, '.sdd', 'runtime', 'preview', 'logs', `${id}.log`),
    port,
    preview_id: id,
    process_pgid: live.pid,
    process_pid: live.pid,
    process_start_time: live.startTime,
    public_url: `https://${randomBytes(6).toString('hex')}-example.trycloudflare.com`,
    ref: null,
    restarts: i % 4 === 0 ? 1 : 0,
    sandbox_backend: 'worktree',
    sandbox_session_id: session,
    share_url: `https://${randomBytes(6).toString('hex')}-example.trycloudflare.com/?token=${token}`,
    status: 'running',
    supervisor_pid: i % 2 === 0 ? live.pid : deadPid(i),
    supervisor_start_time: i % 2 === 0 ? live.startTime : 123456,
    tunnel_name: null,
    tunnel_pid: null,
    tunnel_provider: 'cloudflared',
    tunnel_start_time: null,
  }
}

/** One `node --cpu-prof` run of the CLI: where its CPU goes, by package and by function. */
function profile(args, cwd) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-prof-'))
  spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, BIN, ...args], {cwd, env: {...process.env, ...CLI_ENV}, stdio: 'ignore'})
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
  const summary = summarise(path.join(dir, file))
  rmSync(dir, {force: true, recursive: true})
  return summary
}

function profileText(title, p) {
  return `${title} (one \`node --cpu-prof\` run, ${ms(p.totalMs)} of samples; self time):

${table(['where', 'self'], p.byOwner.map(([k, v]) => [k, ms(v)]))}

${table(['hottest functions', 'self'], p.byFunction.map(([k, v]) => [`\`${k}\``, ms(v)]))}`
}

async function main() {
  requireBuild()
  const repo = makeRepo('list-')
  // A real live process stands in for the live supervisors (pid + start time, as list checks them).
  const sleeper = spawn('sleep', ['600'], {stdio: 'ignore'})
  try {
    const live = {pid: sleeper.pid, startTime: startTimeOf(sleeper.pid)}
    const emptyRepo = makeRepo('list-empty-')
    const stateDir = path.join(repo.dir, '.sdd', 'runtime', 'preview')
    mkdirSync(stateDir, {recursive: true})
    const state = path.join(stateDir, 'state.json')
    const previews = Array.from({length: ROWS}, (_, i) => row(i, repo.dir, live))
    writeFileSync(state, JSON.stringify({previews, version: 1}, null, 2) + '\n', {mode: 0o600})

    // Sanity: list sees every row, and reconciles the dead half to crashed.
    const listed = JSON.parse((await runCli(['list', '--json'], {cwd: repo.dir})).stdout)
    const crashed = listed.filter((r) => r.status === 'crashed').length
    if (listed.length !== ROWS) throw new Error(`list --json returned ${listed.length} rows, expected ${ROWS}`)

    const results = hyperfine([`node -e 0`, `node ${BIN} list`, `node ${BIN} list --json`], {cwd: repo.dir, runs: RUNS, warmup: 3})
    const empty = hyperfine([`node ${BIN} list`], {cwd: emptyRepo.dir, runs: RUNS, warmup: 3})[0]
    emptyRepo.cleanup()

    // oclif's logJson runs ux.colorizeJson over the whole result even when stdout is not a terminal; measure what
    // that costs on these rows against the plain JSON.stringify it ends up equal to.
    const {ux} = await import('@oclif/core')
    const colorize = []
    const stringify = []
    let sameBytes = true
    for (let i = 0; i < 5; i++) {
      let t = performance.now()
      const a = ux.colorizeJson(listed, {pretty: true})
      colorize.push(performance.now() - t)
      t = performance.now()
      const b = JSON.stringify(listed, null, 2)
      stringify.push(performance.now() - t)
      sameBytes &&= a === b
    }

    const profJson = profile(['list', '--json'], repo.dir)
    const profHuman = profile(['list'], repo.dir)
    const rows = [
      ['`node -e 0` (reference)', ms(results[0].medianMs), `${ms(results[0].meanMs)} ± ${results[0].stddevMs.toFixed(0)}`, ms(results[0].userMs), ''],
      ['`preview list`, empty registry', ms(empty.medianMs), `${ms(empty.meanMs)} ± ${empty.stddevMs.toFixed(0)}`, ms(empty.userMs), ''],
      ...results.slice(1).map((r) => [
        `\`preview ${r.command.split(' ').slice(2).join(' ')}\`, ${ROWS} rows`,
        `**${ms(r.medianMs)}**`,
        `${ms(r.meanMs)} ± ${r.stddevMs.toFixed(0)}`,
        ms(r.userMs),
        `< ${TARGET_MS} ms: ${verdict(r.medianMs < TARGET_MS)}`,
      ]),
    ]
    const body = `state.json with ${ROWS} rows (${(statSync(state).size / 1024).toFixed(0)} KiB): every row running on cloudflared with a token
link; half name a live supervisor (a real process, with its start time), half a dead pid, so \`list\` reconciles
${crashed} rows to \`crashed\`. hyperfine -N, ${RUNS} runs after 3 warm-ups, cwd = the repo.

${table(['command', 'wall median', 'wall mean ± sd', 'user CPU', 'target'], rows)}

The rows cost \`list\` ${ms(results[1].medianMs - empty.medianMs)} over an empty registry (median wall); the rest is the CLI's cold start
(see section 6).

Where \`--json\` loses its time: oclif's \`Command.logJson\` calls \`ux.colorizeJson(json, {pretty: true})\`, which tokenizes the
whole document even when stdout is not a terminal. On these ${ROWS} rows, in-process: colorizeJson ${ms(median(colorize), 1)}
(median of 5), \`JSON.stringify(rows, null, 2)\` ${ms(median(stringify), 1)}, ${sameBytes ? 'same bytes' : 'different bytes (colours on)'}. Overriding
\`logJson\` in \`src/cli/base-command.ts\` to write \`JSON.stringify(json, null, 2) + '\\n'\` to stdout saves that difference.

${profileText(`\`preview list --json\`, ${ROWS} rows`, profJson)}

${profileText(`\`preview list\`, ${ROWS} rows`, profHuman)}`
    writeSection('list', `4. \`preview list\` with ${ROWS.toLocaleString('en')} rows`, 'npm run build && node bench/list.mjs', body, results.slice(1).map((r) => ({
      figure: `\`preview ${r.command.split(' ').slice(2).join(' ')}\`, ${ROWS} rows (wall median)`,
      met: r.medianMs < TARGET_MS,
      target: `< ${TARGET_MS} ms`,
      value: ms(r.medianMs),
    })))
    for (const r of rows) console.log(r.join('  '))
  } finally {
    sleeper.kill()
    repo.cleanup()
  }
}

await main()
