#!/usr/bin/env node
// Runs every benchmark in turn (one at a time: they share 2 cores) and so refreshes every section of
// bench/RESULTS.md. The soak runs last, with --cycles 200 unless given.
//
//   npm run build && node bench/all.mjs [--cycles 200] [--skip soak,gateway] [--gateway-run]
import {spawnSync} from 'node:child_process'
import path from 'node:path'
import {BENCH, arg} from './lib/common.mjs'

const skip = new Set(String(arg('skip', '')).split(',').filter(Boolean))
const steps = [
  ['overhead', ['overhead.mjs']],
  ['gateway', ['gateway.mjs', ...(arg('gateway-run', false) ? ['--run'] : [])]],
  ['hmr', ['hmr.mjs']],
  ['list', ['list.mjs']],
  ['memory', ['memory.mjs']],
  ['cold-start', ['cold-start.mjs']],
  ['stop', ['stop.mjs']],
  ['edge', ['edge.mjs']],
  ['soak', ['soak.mjs', '--cycles', String(arg('cycles', 200))]],
  ['serve', ['serve.mjs']],
]
let failed = 0
for (const [name, [script, ...args]] of steps) {
  if (skip.has(name)) continue
  process.stderr.write(`\n== ${name}: node bench/${script} ${args.join(' ')}\n`)
  const res = spawnSync(process.execPath, [path.join(BENCH, script), ...args], {stdio: 'inherit'})
  if (res.status !== 0) {
    failed += 1
    process.stderr.write(`${name} exited ${res.status}\n`)
  }
}

process.exitCode = failed ? 1 : 0
