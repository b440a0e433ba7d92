#!/usr/bin/env node
// Benchmark 1: the tool's overhead. Time from `preview start --provider local --auth none --cwd <repo> --json` to
// the printed link, against the dev server's own time to ready (the same command spawned directly: spawn -> its
// port accepts a TCP connection), median of --runs runs (interleaved), for `node server.js` and `npm run dev`.
// Then --trace runs with a timeline tracer preloaded into every node process (bench/lib/trace-preload.mjs) say where
// the time goes. Writes the `overhead` section of bench/RESULTS.md.
//
//   npm run build && node bench/overhead.mjs [--runs 9] [--trace 3]
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {
  BENCH,
  CLI_ENV,
  ROOT,
  arg,
  freePort,
  hyperfine,
  json,
  makeRepo,
  median,
  ms,
  pidsInside,
  requireBuild,
  runCli,
  sleep,
  table,
  tcpOpen,
  verdict,
  waitFor,
  writeSection,
} from './lib/common.mjs'

const RUNS = arg('runs', 9) // the brief asks for >= 7; fewer only for a smoke run
const TRACE_RUNS = arg('trace', 3)
// Issue 17: a user waits no longer for the link than for `npm run dev` alone: at most 50 ms over it (aim: below
// zero). `node server.js` has no npm start-up to win back; its figure says what the tool itself costs.
const TARGETS_MS = {'node server.js': null, 'npm run dev': 50}
const targetOf = (command) => TARGETS_MS[command] ?? null
const COMMANDS = ['node server.js', 'npm run dev']

/** Spawns the dev command as `preview` would (sh -c, own group, PORT/HOST) and times spawn -> port accepts TCP. */
async function direct(repo, command, extraEnv = {}) {
  const port = await freePort()
  const t0 = performance.now()
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: repo,
    detached: true,
    env: {...process.env, ...extraEnv, HOST: '127.0.0.1', PORT: String(port)},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.resume()
  child.stderr.resume()
  let readyMs = null
  const deadline = t0 + 30_000
  while (performance.now() < deadline) {
    if (await tcpOpen(port)) {
      readyMs = performance.now() - t0
      break
    }

    await sleep(2)
  }

  const exited = new Promise((r) => child.once('exit', r))
  try {
    process.kill(-child.pid, 'SIGTERM')
  } catch {}
  await Promise.race([exited, sleep(5000)])
  await waitFor(async () => !(await tcpOpen(port)), 5000)
  if (readyMs === null) throw new Error(`${command} never accepted a connection on ${port}`)
  return readyMs
}

/** `preview start` to the printed link (stdout holds the whole JSON document), then `preview stop` (not timed). */
async function viaPreview(repo, command, env = {}) {
  const res = await runCli(['start', '--provider', 'local', '--auth', 'none', '--cwd', repo, '--command', command, '--json'], {cwd: repo, env})
  if (res.code !== 0) throw new Error(`preview start failed (${res.code}): ${res.stderr}`)
  const row = json(res)
  const stop = await runCli(['stop', row.preview_id], {cwd: repo})
  if (stop.code !== 0) throw new Error(`preview stop failed: ${stop.stderr}`)
  // Nothing of this run may linger into the next one (the CLI itself has exited: its cwd is the repo too).
  await waitFor(() => pidsInside(repo).length === 0, 10_000)
  return {exitMs: res.wallMs, linkMs: res.jsonAtMs ?? res.wallMs}
}

/** The same start through the programmatic API (bench/lib/start-api.mjs, no oclif): the cost of oclif itself. */
async function viaApi(repo, command) {
  const t0 = performance.now()
  const child = spawn(process.execPath, [path.join(BENCH, 'lib', 'start-api.mjs'), repo, command], {
    cwd: repo,
    env: {...process.env, ...CLI_ENV},
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  let linkMs = null
  child.stdout.on('data', (d) => {
    out += d
    if (linkMs === null && out.endsWith('\n')) linkMs = performance.now() - t0
  })
  const code = await new Promise((r) => child.once('close', r))
  if (code !== 0) throw new Error(`start-api.mjs exited ${code}`)
  const row = JSON.parse(out)
  const stop = await runCli(['stop', row.preview_id], {cwd: repo})
  if (stop.code !== 0) throw new Error(`preview stop failed: ${stop.stderr}`)
  await waitFor(() => pidsInside(repo).length === 0, 10_000)
  return linkMs
}

/** One traced `preview start`: the timeline of every node process, as phases relative to the CLI's start. */
async function traced(repo, command) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-trace-'))
  const file = path.join(dir, 'trace.jsonl')
  const preload = pathToFileURL(path.join(BENCH, 'lib', 'trace-preload.mjs')).href
  const env = {BENCH_TRACE_FILE: file, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim()}
  const {linkMs} = await viaPreview(repo, command, env)
  // The dev server alone, with the same tracer loaded, so the two readiness times compare like for like.
  const directMs = await direct(repo, command, env)
  const events = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .sort((a, b) => a.t - b.t)
  rmSync(dir, {force: true, recursive: true})
  return {directMs, linkMs, phases: phases(events)}
}

/**
 * A trace as a timeline: when each milestone happened, in ms after the CLI process started. The CLI and the
 * supervisor run side by side (the supervisor is spawned first thing, the CLI starts the dev server, the
 * supervisor adopts it), so the milestones are not consecutive phases.
 */
function phases(events) {
  const first = (pred, after = -Infinity) => events.find((e) => e.t >= after && pred(e))
  const need = (name, e) => {
    if (!e) throw new Error(`trace: no ${name} event`)
    return e
  }

  const cliStart = need('cli start', first((e) => e.role === 'cli' && e.ev === 'process-start'))
  const at = (e) => (e ? e.t - cliStart.t : NaN)
  const cliPreload = first((e) => e.role === 'cli' && e.ev === 'preload')
  const supSpawn = first((e) => e.ev === 'spawn' && String(e.what).includes('supervisor-main'))
  const supPreload = first((e) => e.role === 'supervisor' && e.ev === 'preload')
  const gitCalls = events.filter((e) => e.role === 'cli' && e.ev === 'exec')
  const devSpawn = need('dev spawn', first((e) => e.ev === 'spawn' && !String(e.what).includes('supervisor-main') && !String(e.what).startsWith('git')))
  const devNodeStart = first((e) => e.role === 'server' && e.ev === 'process-start', devSpawn.t)
  const devListening = need('dev listening', first((e) => e.role === 'server' && e.ev === 'listening', devSpawn.t))
  const detected = first((e) => e.role === 'supervisor' && e.ev === 'connect' && e.port === devListening.port, devListening.t)
  const gatewayUp = first((e) => e.role === 'supervisor' && e.ev === 'listening', devListening.t)
  const ipcSend = first((e) => e.role === 'supervisor' && e.ev === 'ipc-send', devListening.t)
  const printed = first((e) => e.role === 'cli' && e.ev === 'stdout-first-write', devListening.t)
  const cliExit = first((e) => e.role === 'cli' && e.ev === 'exit', devListening.t)
  return {
    'CLI: node bootstrap done (first user code)': at(cliPreload),
    'CLI: supervisor spawned': at(supSpawn),
    '  git calls by the CLI before the dev server': gitCalls.filter((e) => e.t < devSpawn.t).length,
    [`dev server spawned (by the ${devSpawn.role})`]: at(devSpawn),
    'supervisor: node bootstrap done': at(supPreload),
    'dev server: its node process started': at(devNodeStart),
    'dev server: listening': at(devListening),
    'supervisor: port confirmed (TCP connect)': at(detected),
    'supervisor: gateway listening': at(gatewayUp),
    'supervisor: ready sent on IPC': at(ipcSend),
    'CLI: link printed': at(printed),
    'CLI: exit': at(cliExit),
  }
}

async function main() {
  requireBuild()
  const repo = makeRepo('overhead-')
  try {
    const results = {}
    for (const command of COMMANDS) results[command] = {api: [], direct: [], exit: [], link: [], trace: []}
    // Warm-up (page cache, jwt and audit keys, npm's own caches); not counted.
    for (const command of COMMANDS) {
      await direct(repo.dir, command)
      await viaPreview(repo.dir, command)
      await viaApi(repo.dir, command)
    }

    for (let i = 0; i < RUNS; i++) {
      for (const command of COMMANDS) {
        const r = results[command]
        r.direct.push(await direct(repo.dir, command))
        const p = await viaPreview(repo.dir, command)
        r.link.push(p.linkMs)
        r.exit.push(p.exitMs)
        r.api.push(await viaApi(repo.dir, command))
        process.stderr.write(`run ${i + 1}/${RUNS} ${command}: direct ${ms(r.direct.at(-1))}, preview link ${ms(p.linkMs)}\n`)
      }
    }

    for (let i = 0; i < TRACE_RUNS; i++) {
      for (const command of COMMANDS) results[command].trace.push(await traced(repo.dir, command))
    }

    // Import costs of what the CLI and the supervisor load, next to bare node (hyperfine, cold processes).
    const imports = hyperfine(
      [
        `node -e 0`,
        `node ${path.join('bin', 'run.js')} --version`,
        `node --input-type=module -e "await import('./dist/core/preview/manager.js')"`,
        `node --input-type=module -e "await import('./dist/core/supervisor/supervisor.js')"`,
        `node --input-type=module -e "await import('@oclif/core')"`,
        `node --input-type=module -e "await import('jose')"`,
        `node --input-type=module -e "await import('yaml')"`,
        `node --input-type=module -e "await import('proper-lockfile')"`,
      ],
      {cwd: ROOT, runs: 15, warmup: 2},
    )

    writeSection('overhead', '1. Tool overhead: `preview start` to the printed link, against the dev server alone', 'npm run build && node bench/overhead.mjs', report(results, imports), figures(results))
    for (const command of COMMANDS) {
      const r = results[command]
      console.log(`${command}: direct ${ms(median(r.direct))}, preview ${ms(median(r.link))}, overhead ${ms(median(r.link) - median(r.direct))}`)
    }
  } finally {
    repo.cleanup()
  }
}

function figures(results) {
  return COMMANDS.map((command) => {
    const r = results[command]
    const overhead = median(r.link) - median(r.direct)
    return {
      figure: `tool overhead, \`${command}\` (start -> link ${ms(median(r.link))} vs alone ${ms(median(r.direct))})`,
      ...(targetOf(command) === null ? {} : {met: overhead <= targetOf(command), target: `<= ${targetOf(command)} ms`}),
      value: ms(overhead),
    }
  })
}

function report(results, imports) {
  const rows = COMMANDS.map((command) => {
    const r = results[command]
    const d = median(r.direct)
    const l = median(r.link)
    const overhead = l - d
    return [
      `\`${command}\``,
      ms(d),
      ms(l),
      ms(median(r.exit)),
      `**${ms(overhead)}**`,
      targetOf(command) === null ? '-' : `<= ${targetOf(command)} ms: ${verdict(overhead <= targetOf(command))}`,
      `${ms(median(r.api))} (overhead ${ms(median(r.api) - d)})`,
    ]
  })
  const runs = COMMANDS.map((c) => {
    const r = results[c]
    return `- \`${c}\`: alone ${r.direct.map((x) => x.toFixed(0)).join(', ')}; preview ${r.link.map((x) => x.toFixed(0)).join(', ')}; API ${r.api.map((x) => x.toFixed(0)).join(', ')}`
  })
  let out = `Dev server alone: the command spawned with \`sh -c\` in its own process group with PORT/HOST, timed from spawn
until its port accepts a TCP connection (polled every 2 ms). Through preview: \`node bin/run.js start --provider local
--auth none --cwd <repo> --command <cmd> --json\` timed from spawn until stdout holds the whole JSON document (the link);
\`preview stop\` after each run, not timed. Without oclif: the same start through the programmatic API
(\`bench/lib/start-api.mjs\`: import \`PreviewManager\` from dist/, call \`start()\`, print the row), i.e. what a
start fast path that skips oclif would cost. ${RUNS} runs of each, interleaved, after one warm-up; medians.

${table(['dev command', 'dev server alone', 'preview start -> link', 'preview start -> exit', 'overhead', 'target', 'without oclif (API) -> link'], rows)}

Every run (ms):
${runs.join('\n')}
`
  const anyOver = COMMANDS.some((c) => targetOf(c) !== null && median(results[c].link) - median(results[c].direct) > targetOf(c))
  const n = results[COMMANDS[0]].trace.length
  if (n > 0) {
    const names = Object.keys(results[COMMANDS[0]].trace[0].phases).filter((k) => !k.startsWith('_'))
    const cell = (name, c) => {
      const m = median(results[c].trace.map((t) => t.phases[name]))
      return name.includes('git calls') ? String(m) : ms(m, 1)
    }
    const traceRows = names.map((name) => [name, ...COMMANDS.map((c) => cell(name, c))])
    traceRows.push(['for comparison, traced: `preview start` -> link', ...COMMANDS.map((c) => ms(median(results[c].trace.map((t) => t.linkMs)), 1))])
    traceRows.push(['for comparison, traced: dev server alone (spawn -> port accepts)', ...COMMANDS.map((c) => ms(median(results[c].trace.map((t) => t.directMs)), 1))])
    out += `
### Where the time goes (${n} traced runs per command, medians)

Traced with \`bench/lib/trace-preload.mjs\` preloaded (\`NODE_OPTIONS=--import\`) into every node process (CLI,
supervisor, npm, dev server): it timestamps process start, spawns, listens, connects, lock directories, state renames,
audit appends and IPC, on one clock. The tracer adds to each node process's start, so traced totals are higher than
the untraced medians above; the last two rows give both sides traced. Each row is a milestone, in ms after the
CLI process started (the processes overlap, so these are points on one clock, not consecutive phases).

${table(['milestone (ms after the CLI started)', ...COMMANDS.map((c) => `\`${c}\``)], traceRows)}

Cold-process import costs (hyperfine, 15 runs): what each process pays before it can do anything.

${table(['command', 'wall median', 'wall mean ± sd', 'user CPU (mean)'], imports.map((r) => [`\`${r.command}\``, ms(r.medianMs), `${ms(r.meanMs)} ± ${r.stddevMs.toFixed(0)}`, ms(r.userMs)]))}
`
  }

  out += `\n${anyOver ? FINDINGS_OVER : FINDINGS_OK}`
  return out
}

// Written from the traces above (see the report of the bench branch for the measured gains of each suggestion).
const FINDINGS_OVER = `### Reading (the target is not met)

What was done after the first measurement (740 ms over \`node server.js\`, 745 ms over \`npm run dev\`):
\`bin/run.js\` spawns the supervisor before oclif loads, so its Node cold start overlaps the CLI's
(\`src/core/supervisor/prewarm.ts\`); the supervisor loads the gateway and the tunnel drivers while the dev server
boots; jose is no longer loaded by list/status/stop or by the supervisor (the CLI mints the first link while the
supervisor starts); yaml, debug and proper-lockfile load on first use; oclif is imported by subpath (no help,
logger or semver at start-up); the port wait wakes on a banner line instead of its next 40 ms tick; the
\`starting\` row is written while the dev server boots; \`--cwd\` costs one git call, not two.

A plain \`preview start\` also runs without oclif now (\`src/cli/fast-start.ts\`, same flag table as the command).

What is left on the critical path is two Node cold starts that overlap only partly: the supervisor is spawned as
soon as the CLI's own Node is up (~130 ms in), and its own boot (~130 ms of Node plus ~40 ms of modules) ends
after the CLI has prepared the spec; the dev server is spawned only then. (The traced phases above attribute
the CLI's waits to the supervisor and the other way round, because the two now run side by side.) Next steps:

1. **The CLI spawns the dev server itself** as soon as the spec is ready (output to the log file, its own
   process group), and the supervisor adopts it: port capture from the log as it grows, exit watched through
   /proc. Estimated gain: the supervisor's remaining boot, ~80 ms.
2. **Start the dev server before the CLI has prepared anything** (speculatively, from the raw argv, rolled back
   if the input turns out bad): the dev server's own boot would then overlap the CLI's.
`

const FINDINGS_OK = `### Reading

The target is met. How (the first measurement was 740 ms over \`node server.js\`): the supervisor is spawned
before anything else loads (\`src/core/supervisor/prewarm.ts\`); a plain \`preview start\` runs without oclif
(\`src/cli/fast-start.ts\`, same flag table as the command); the CLI starts the dev server itself as soon as it
knows the command (output into the log, its own process group) and the supervisor adopts it when it is up
(\`src/core/supervisor/dev-server.ts\`: reads the log as it is written, exit code from a wrapper shell, exit through
/proc); the gateway, tunnel drivers and jose load off the critical path (jose only in the CLI, which mints the
first link while the supervisor starts). What is left is the CLI's own Node start (~130 ms) and its preparation
(config, two git calls, ~60 ms) before the dev server is spawned, and ~30 ms after it listens (port confirmed,
gateway, link, state and audit writes, IPC).
`

await main()
