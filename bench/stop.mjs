#!/usr/bin/env node
// Benchmark 6b: `preview stop <id>` of a RUNNING preview, wall time from spawn to exit, against `node -e 0` timed
// the same way in the same round (hyperfine cannot do it: every run needs a fresh preview). Each round starts a
// preview (`--provider local --auth none --command 'node server.js'` on a temp repo; not timed), times `node -e 0`,
// then times the stop and checks what it promises: the dev server's group gone, the gateway refusing, the row gone.
// `--before <dir>` interleaves a second build (a copy of bin/ and dist/, e.g. of the commit before a change) round by
// round, so a before/after comparison shares the machine's load. `--trace N` runs N more stops with the timeline
// tracer (bench/lib/trace-preload.mjs) and DEBUG=preview:* in the supervisor, and prints where the time went.
// Writes the `stop` section of bench/RESULTS.md (not with --no-write).
//
//   npm run build && node bench/stop.mjs [--runs 9] [--before /tmp/old-build --before-label <commit>] [--also <dir> --also-label <name>] [--trace 5] [--no-write]
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {
  BENCH,
  BIN,
  CLI_ENV,
  alive,
  arg,
  json,
  makeRepo,
  median,
  ms,
  pidsInside,
  requireBuild,
  table,
  tcpOpen,
  waitFor,
  writeSection,
} from './lib/common.mjs'

const RUNS = arg('runs', 9)
const TRACE_RUNS = arg('trace', 5)
const beforeIdx = process.argv.indexOf('--before')
const BEFORE = beforeIdx === -1 ? null : path.resolve(process.argv[beforeIdx + 1])
// What the --before build is (a commit, say), for the text of RESULTS.md.
const labelIdx = process.argv.indexOf('--before-label')
const BEFORE_LABEL = labelIdx === -1 ? BEFORE : process.argv[labelIdx + 1]
// One more build in the same rounds (`--also <dir> --also-label <name>`: another branch, or a merge of two).
const alsoIdx = process.argv.indexOf('--also')
const ALSO = alsoIdx === -1 ? null : path.resolve(process.argv[alsoIdx + 1])
const alsoLabelIdx = process.argv.indexOf('--also-label')
const ALSO_LABEL = alsoLabelIdx === -1 ? 'also' : process.argv[alsoLabelIdx + 1]
const WRITE = !process.argv.includes('--no-write')

/** Spawns node with args and resolves with the exit code, output and wall time spawn -> exit. */
function timed(args, {cwd, env = {}}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, args, {cwd, env: {...process.env, ...CLI_ENV, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`node ${args.join(' ')} timed out\n${stdout}\n${stderr}`))
    }, 60_000)
    // 'exit', not 'close': the wall a user waits for is the process's exit.
    child.on('exit', (code) => {
      const wallMs = performance.now() - t0
      clearTimeout(timer)
      child.on('close', () => resolve({code, stderr, stdout, wallMs}))
    })
  })
}

async function startPreview(bin, repo, env = {}) {
  const r = await timed([bin, 'start', '--provider', 'local', '--auth', 'none', '--command', 'node server.js', '--cwd', repo, '--json'], {
    cwd: repo,
    env,
  })
  if (r.code !== 0) throw new Error(`preview start failed: ${r.stderr}`)
  return json(r)
}

/** One stop of a fresh preview, with the promises checked the moment stop returned. */
async function oneStop(bin, repo, env = {}) {
  const row = await startPreview(bin, repo, env)
  const r = await timed([bin, 'stop', row.preview_id], {cwd: repo, env})
  if (r.code !== 0) throw new Error(`preview stop failed: ${r.stderr}`)
  const devAlive = row.process_pid ? alive(row.process_pid) : false
  const gatewayOpen = row.gateway_port ? await tcpOpen(row.gateway_port) : false
  const state = JSON.parse(readFileSync(path.join(repo, '.sdd', 'runtime', 'preview', 'state.json'), 'utf8'))
  const rowLeft = state.previews.some((p) => p.preview_id === row.preview_id)
  if (devAlive || gatewayOpen || rowLeft)
    throw new Error(`stop returned early: dev alive ${devAlive}, gateway open ${gatewayOpen}, row left ${rowLeft}`)
  return r.wallMs
}

/** The phases of a traced stop: where the time between the CLI's spawn and its exit went. */
const PHASES = [
  ['node start-up (with the tracer preloaded)', 'cli process-start', 'cli preload'],
  ['CLI modules load', 'cli preload', 'cli exec'],
  ['git rev-parse (the repository)', 'cli exec', 'cli exec-exit'],
  ['state read, SIGTERM, the supervisor wakes', 'cli exec-exit', 'supervisor lock-try'],
  ['supervisor: teardown, row removed, stop audited, exit', 'supervisor lock-try', 'supervisor exit'],
  ['CLI sees the exit, re-reads the row, prints, exits', 'supervisor exit', 'cli exit'],
]

/** A traced stop: the tracer in the CLI and (through the start's env) in the supervisor. */
async function tracedStop(repo) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-stop-trace-'))
  const file = path.join(dir, 'trace.jsonl')
  const preload = pathToFileURL(path.join(BENCH, 'lib', 'trace-preload.mjs')).href
  const env = {BENCH_TRACE_FILE: file, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim()}
  const row = await startPreview(BIN, repo, env)
  const t0 = performance.timeOrigin + performance.now()
  const r = await timed([BIN, 'stop', row.preview_id], {cwd: repo, env})
  const events = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((e) => e.t >= t0 - 1)
  rmSync(dir, {force: true, recursive: true})
  const at = (key) => events.find((e) => `${e.role} ${e.ev}` === key)?.t ?? Number.NaN
  return {
    lines: events.map(
      (e) =>
        `${(e.t - t0).toFixed(1).padStart(7)} ms ${e.role}#${e.pid} ${e.ev} ${JSON.stringify({...e, ev: undefined, pid: undefined, role: undefined, t: undefined})}`,
    ),
    phases: PHASES.map(([, from, to]) => at(to) - at(from)),
    wallMs: r.wallMs,
  }
}

async function main() {
  requireBuild()
  const repo = makeRepo('stop-')
  const builds = {
    after: BIN,
    ...(BEFORE ? {before: path.join(BEFORE, 'bin', 'run.js')} : {}),
    ...(ALSO ? {[ALSO_LABEL]: path.join(ALSO, 'bin', 'run.js')} : {}),
  }
  const several = Object.keys(builds).length > 1
  const walls = {node: []}
  for (const name of Object.keys(builds)) walls[name] = []
  try {
    await oneStop(BIN, repo.dir) // warm-up: the file cache, the first state.json
    for (let i = 0; i < RUNS; i++) {
      walls.node.push((await timed(['-e', '0'], {cwd: repo.dir})).wallMs)
      // Rotate which build goes first, so none always runs right after `node -e 0`.
      const names = Object.keys(builds)
      const order = names.map((_, j) => names[(i + j) % names.length])
      for (const name of order) walls[name].push(await oneStop(builds[name], repo.dir))
      console.log(
        `round ${i + 1}: node -e 0 ${ms(walls.node.at(-1))}, ${Object.keys(builds)
          .map((n) => `${n} ${ms(walls[n].at(-1))}`)
          .join(', ')}`,
      )
    }

    const traces = []
    for (let i = 0; i < TRACE_RUNS; i++) {
      traces.push(await tracedStop(repo.dir))
      console.log(`\ntraced stop ${i + 1}: ${ms(traces.at(-1).wallMs)}\n${traces.at(-1).lines.join('\n')}`)
    }

    const phaseTable =
      traces.length === 0
        ? ''
        : table(
            ['phase (traced stops, median)', 'ms'],
            [
              ...PHASES.map(([name], i) => [name, ms(median(traces.map((t) => t.phases[i])), 1)]),
              ['the whole stop, traced', ms(median(traces.map((t) => t.wallMs)))],
            ],
          )
    if (phaseTable) console.log(`\n${phaseTable}`)

    const base = median(walls.node)
    const rows = Object.entries(walls).map(([name, xs]) => [
      name === 'node' ? '`node -e 0`' : `\`node bin/run.js stop <id>\`${several ? ` (${name})` : ''}`,
      ms(median(xs)),
      `${ms(Math.min(...xs))} - ${ms(Math.max(...xs))}`,
      name === 'node' ? '' : `+${ms(median(xs) - base)}`,
    ])
    const head = ['command', 'wall median', 'min - max', 'over `node -e 0`']
    console.log(`\n${table(head, rows)}`)
    if (!WRITE) return
    const stop = median(walls.after)
    const nice = os.getPriority()
    const body = `${RUNS} rounds, each: a fresh preview started (\`--provider local --auth none --command 'node server.js'\`, not timed), then
\`node -e 0\` and \`node bin/run.js stop <id>\` each timed from spawn to exit; after each stop the bench checks the dev
server's pid is gone, the gateway port refuses and the row is gone.${nice === 0 ? '' : ` Run at nice ${nice}.`}${
      BEFORE ? ` "before" is a copy of bin/ and dist/ built from ${BEFORE_LABEL}, run in the same rounds (rotating which goes first).` : ''
    }${ALSO ? ` "${ALSO_LABEL}" is one more build (its bin/ and dist/) in the same rounds.` : ''}

${table(head, rows)}

Target (issue 17): \`stop\` within 100 ms of \`node -e 0\`: ${stop - base <= 100 ? 'met' : 'not met'} in this run (+${ms(stop - base)} at the median). Wall
figures swing with the machine's load (2 shared cores): under a heavier load (about 4) this branch measured up to ~+110 ms, so
the margin is thin there.

What a stop waited for at 174b766 and what changed: the supervisor's exit waited for the adopted dev server's exit
watch (a 100 ms interval that held the event loop: up to 100 ms on every stop; now unref'd). The teardown closed the
tunnel, then the gateway, then killed the dev server; now all at once, with the \`stopping\` row write alongside.
killGroup and the CLI's waitForExit polled every 25 ms (each killGroup round a scan of every process); now every 5 ms
where a check is a /proc read (backing off to 25 ms where it spawns ps), re-reading only the group members seen until
they are gone, then one full scan. PreviewManager loads only the verb it runs, while git runs. What is left: node's own
start, the CLI's modules (everyday.ts loads every fast command's: the listfast branch trims that), git rev-parse, two durable writes in the supervisor
(the row removal and the \`stop\` audit entry: locked, fsynced), the dev server's own exit after SIGTERM, and node's
exit (~5 ms from its exit event until its parent sees it).
${
  phaseTable &&
  `
Where the time goes: ${traces.length} more stops with the timeline tracer (bench/lib/trace-preload.mjs) preloaded into the CLI
and the supervisor (its preload makes each process a few ms slower to start):

${phaseTable}`
}`
    const command = `npm run build && node bench/stop.mjs --runs ${RUNS}${BEFORE ? ' --before <old build>' : ''}${ALSO ? ` --also <build> --also-label '${ALSO_LABEL}'` : ''}`
    writeSection('stop', '6b. `preview stop` of a running preview against bare `node -e 0`', command, body, [
      {
        figure: `\`stop <id>\` of a running preview (node -e 0: ${ms(base)})`,
        met: stop - base <= 100,
        target: '<= +100 ms',
        value: `${ms(stop)} (+${ms(stop - base)})`,
      },
    ])
  } finally {
    await timed([BIN, 'stop', '--all'], {cwd: repo.dir}).catch(() => null)
    await waitFor(() => pidsInside(repo.dir).length === 0, 10_000)
    repo.cleanup()
  }
}

await main()
