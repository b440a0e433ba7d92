#!/usr/bin/env node
// Benchmark 4: `preview list` with 1,000 rows. Writes a state.json of --rows realistic rows into a temp repo (half
// of them with a live supervisor pid and its real start time, half with a dead pid, so list reconciles both kinds),
// then times `node bin/run.js list` and `list --json` with hyperfine, next to `list` on an empty registry and bare
// `node -e 0`, and (with --baseline) the same commands of a build of another commit in the same hyperfine run.
// Writes the `list` section of bench/RESULTS.md.
//
//   git archive <commit> | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/ && (cd DIR && npx tsc -p tsconfig.json)
//   npm run build && node bench/list.mjs [--rows 1000] [--runs 20] [--rounds 5] [--baseline DIR --baseline-label <commit>]
import {spawn, spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {summarise} from './lib/cpuprofile.mjs'
import {BIN, CLI_ENV, arg, hyperfine, median, makeRepo, ms, requireBuild, runCli, table, verdict, writeSection} from './lib/common.mjs'

const ROWS = arg('rows', 1000)
const RUNS = arg('runs', 20)
// The runs in rounds, the commands' order reversed every other round, so a change in the machine's load falls on
// every command alike (the lead runs CI on the same two cores).
const ROUNDS = arg('rounds', 5)
const TARGET_MS = 300
const AIM_MS = 150
const BASELINE = arg('baseline', null)
const BASELINE_BIN = BASELINE ? path.join(path.resolve(BASELINE), 'bin', 'run.js') : null
const BASELINE_LABEL = arg('baseline-label', BASELINE ? path.basename(BASELINE) : null)

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

/**
 * hyperfine over each group of commands (each with its cwd) in ROUNDS rounds of RUNS / ROUNDS runs, every group in
 * every round; medians and means over all the runs. Returns one list of results per group.
 */
function hyperfineRounds(groups) {
  // By group and command: the same command line runs in two groups (list, in the full and the empty repo).
  const per = groups.map((g) => new Map(g.commands.map((c) => [c, []])))
  const runs = Math.max(1, Math.round(RUNS / ROUNDS))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, {commands, cwd}] of groups.entries()) {
      const order = round % 2 === 0 ? commands : [...commands].reverse()
      for (const r of hyperfine(order, {cwd, runs, warmup: round === 0 ? 3 : 1})) per[i].get(r.command).push(r)
    }
  }

  return groups.map((g, i) =>
    g.commands.map((command) => {
      const rs = per[i].get(command)
      const times = rs.flatMap((r) => r.timesMs)
      const mean = times.reduce((a, b) => a + b, 0) / times.length
      const sd = Math.sqrt(times.reduce((a, t) => a + (t - mean) ** 2, 0) / Math.max(1, times.length - 1))
      return {command, meanMs: mean, medianMs: median(times), stddevMs: sd, userMs: rs.reduce((a, r) => a + r.userMs, 0) / rs.length}
    }),
  )
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

    // The baseline prints the same document for the same state.json (EXPIRES in the table ticks, the JSON does not).
    if (BASELINE_BIN) {
      const mine = (await runCli(['list', '--json'], {cwd: repo.dir})).stdout
      const env = {...process.env, ...CLI_ENV}
      const theirs = spawnSync(process.execPath, [BASELINE_BIN, 'list', '--json'], {cwd: repo.dir, encoding: 'utf8', env, maxBuffer: 1 << 28}).stdout
      if (mine !== theirs) throw new Error('the baseline prints another `list --json` for the same state.json')
    }

    const base = BASELINE_BIN ? [`node ${BASELINE_BIN} list`, `node ${BASELINE_BIN} list --json`] : []
    const emptyCommands = [`node ${BIN} list`, ...(BASELINE_BIN ? [`node ${BASELINE_BIN} list`] : [])]
    const [all, emptyAll] = hyperfineRounds([
      {commands: [`node -e 0`, `node ${BIN} list`, `node ${BIN} list --json`, ...base], cwd: repo.dir},
      {commands: emptyCommands, cwd: emptyRepo.dir},
    ])
    const results = all.slice(0, 3)
    const baseline = all.slice(3)
    const empty = emptyAll[0]
    emptyRepo.cleanup()

    const profJson = profile(['list', '--json'], repo.dir)
    const profHuman = profile(['list'], repo.dir)
    const plain = (r) => [ms(r.medianMs), `${ms(r.meanMs)} ± ${r.stddevMs.toFixed(0)}`, ms(r.userMs)]
    const args = (r) => r.command.split(' ').slice(2).join(' ')
    const aim = (r) => `aim ${AIM_MS} ms: ${r.medianMs <= AIM_MS ? 'reached' : 'not reached'}`
    const rows = [
      ['`node -e 0` (reference)', ...plain(results[0]), ''],
      ['`preview list`, empty registry', ...plain(empty), ''],
      ...(emptyAll[1] ? [[`baseline ${BASELINE_LABEL}: \`preview list\`, empty registry`, ...plain(emptyAll[1]), '']] : []),
      ...results.slice(1).map((r) => [
        `\`preview ${args(r)}\`, ${ROWS} rows`,
        `**${ms(r.medianMs)}**`,
        ...plain(r).slice(1),
        `< ${TARGET_MS} ms: ${verdict(r.medianMs < TARGET_MS)}; ${aim(r)}`,
      ]),
      ...baseline.map((r) => [`baseline ${BASELINE_LABEL}: \`preview ${args(r)}\`, ${ROWS} rows`, ...plain(r), '']),
    ]
    const against = baseline.length === 0 ? '' : ` Against the baseline (a build of that commit) in the same rounds (median wall): \`list\`
${ms(baseline[0].medianMs)} -> ${ms(results[1].medianMs)}, \`list --json\` ${ms(baseline[1].medianMs)} -> ${ms(results[2].medianMs)}; user CPU ${ms(baseline[0].userMs)} -> ${ms(results[1].userMs)}
and ${ms(baseline[1].userMs)} -> ${ms(results[2].userMs)}; the same \`list --json\` bytes.`
    const body = `state.json with ${ROWS} rows (${(statSync(state).size / 1024).toFixed(0)} KiB): every row running on cloudflared with a token
link; half name a live supervisor (a real process, with its start time), half a dead pid, so \`list\` reconciles
${crashed} rows to \`crashed\`. hyperfine -N, ${RUNS} runs of each command in ${ROUNDS} rounds
(every command, the empty registry's too, in every round, their order reversed every other round; 3 warm-ups, then 1 a
round); wall figures over all runs, user CPU the mean.

${table(['command', 'wall median', 'wall mean ± sd', 'user CPU', 'target'], rows)}

The rows cost \`list\` ${ms(results[1].medianMs - empty.medianMs)} over an empty registry, which costs ${ms(empty.medianMs - results[0].medianMs)} over \`node -e 0\`
(module loading and one \`git rev-parse\`; see section 6).${against}

What \`list\` no longer does (issue 17): load and run valibot on a well-formed state.json (a quick predicate per
field shape answers, valibot is loaded only for a value that fails one, so its wording stays: ~10 ms of import, ~15 ms
of checks); read and check state.json a second time for the ended-previews notice; run \`git rev-parse\` three times
(now once); read /proc once per row (one listing of /proc, each distinct pid read once; with \`PREVIEW_PROCFS=0\` one
\`ps -A\` instead of a \`ps -p\` spawn per row, which took 12 s for these rows); parse every share URL to redact it (a
token link in the canonical form \`preview\` mints is redacted as a string); build the table for \`--json\`. What is
left over \`node -e 0\`: loading 28 ES modules (43 before; no bundle, no compile cache on Node 20), one \`git rev-parse\`,
\`JSON.parse\` of the file, copying the rows, and the garbage collector (in the profiles below).

${profileText(`\`preview list --json\`, ${ROWS} rows`, profJson)}

${profileText(`\`preview list\`, ${ROWS} rows`, profHuman)}`
    writeSection('list', `4. \`preview list\` with ${ROWS.toLocaleString('en')} rows`, ['npm run build && node bench/list.mjs', ...process.argv.slice(2)].join(' '), body, results.slice(1).map((r) => ({
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
