#!/usr/bin/env node
// Issue 14: does spawning the tunnel tool through execa (in the supervisor, once the port is captured) add to
// `preview start` -> link? The same start with `--provider bore` (the faithful fake in test/fakes/bin, a node
// script that prints its URL 30 ms after it starts) through this tree and through a baseline tree (a build of the
// commit before execa), interleaved, after one warm-up each; medians. Prints the figures; writes nothing.
//
//   git archive <commit> | tar -x -C DIR && ln -s "$PWD/node_modules" DIR/ && (cd DIR && npm run build)
//   npm run build && node bench/execa-tunnel.mjs --baseline DIR [--runs 9]
import {spawn} from 'node:child_process'
import path from 'node:path'
import {CLI_ENV, ROOT, arg, makeRepo, median, ms, pidsInside, requireBuild, waitFor} from './lib/common.mjs'

const RUNS = arg('runs', 9)
const BASELINE = arg('baseline', null)
if (!BASELINE) throw new Error('--baseline DIR: a built tree of the commit to compare with')
const SYSTEM_PATH = [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')

/** `node <tree>/bin/run.js ...args`: exit code, stdout, and when stdout first held a whole JSON document. */
function cli(tree, args, cwd, env = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [path.join(tree, 'bin', 'run.js'), ...args], {
      cwd,
      env: {...process.env, ...CLI_ENV, ...env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let jsonAtMs = null
    child.stdout.on('data', (d) => {
      stdout += d
      try {
        JSON.parse(stdout)
        jsonAtMs ??= performance.now() - t0
      } catch {}
    })
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (code) => resolve({code, jsonAtMs, stderr, stdout}))
  })
}

async function startToLink(tree, repo) {
  const env = {BORE_BIN: '', PATH: `${path.join(ROOT, 'test', 'fakes', 'bin')}:${SYSTEM_PATH}`}
  const res = await cli(tree, ['start', '--provider', 'bore', '--auth', 'none', '--cwd', repo, '--command', 'node server.js', '--json'], repo, env)
  if (res.code !== 0) throw new Error(`start failed in ${tree} (${res.code}): ${res.stderr}`)
  const row = JSON.parse(res.stdout)
  const stop = await cli(tree, ['stop', row.preview_id], repo)
  if (stop.code !== 0) throw new Error(`stop failed: ${stop.stderr}`)
  await waitFor(() => pidsInside(repo).length === 0, 10_000)
  return res.jsonAtMs
}

requireBuild()
const repo = makeRepo('execa-tunnel-')
try {
  const trees = {'this tree (execa)': ROOT, 'baseline (node:child_process)': path.resolve(BASELINE)}
  const times = Object.fromEntries(Object.keys(trees).map((k) => [k, []]))
  for (const tree of Object.values(trees)) await startToLink(tree, repo.dir) // warm-up
  for (let i = 0; i < RUNS; i++) {
    for (const [name, tree] of Object.entries(trees)) times[name].push(await startToLink(tree, repo.dir))
    process.stderr.write(`run ${i + 1}/${RUNS}: ${Object.entries(times).map(([n, t]) => `${n} ${ms(t.at(-1))}`).join(', ')}\n`)
  }

  for (const [name, t] of Object.entries(times)) console.log(`${name}: start -> link median ${ms(median(t))} (${t.map((x) => x.toFixed(0)).join(', ')})`)
  const [a, b] = Object.values(times).map((t) => median(t))
  console.log(`difference (execa - baseline): ${ms(a - b)}`)
} finally {
  repo.cleanup()
}
