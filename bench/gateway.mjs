#!/usr/bin/env node
// Benchmark 2: gateway throughput and p99 against direct and nginx. The benchmark itself is bench/gateway/run.mjs
// (wrk against the fixture direct, nginx as a reverse proxy and the gateway with a valid token cookie); this script
// reruns it when asked (--run, extra arguments passed on) and copies its results table into the `gateway` section of
// bench/RESULTS.md, citing bench/gateway/RESULTS.md.
//
//   npm run build && node bench/gateway.mjs [--run [--duration 8 --rounds 3 --connections 32]]
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {BENCH, arg, requireBuild, writeSection} from './lib/common.mjs'

requireBuild()
const source = path.join(BENCH, 'gateway', 'RESULTS.md')
if (arg('run', false)) {
  const passOn = process.argv.slice(2).filter((a) => a !== '--run')
  const res = spawnSync(process.execPath, [path.join(BENCH, 'gateway', 'run.mjs'), ...passOn], {stdio: 'inherit'})
  if (res.status !== 0) throw new Error(`bench/gateway/run.mjs exited ${res.status}`)
}

const text = readFileSync(source, 'utf8')
const written = /Written by .*? on (\S+?)\.?\n/.exec(text)?.[1] ?? 'unknown date'
const machine = /Machine: (.*)\n/.exec(text)?.[1] ?? 'unknown machine'
const tableText = text
  .split('\n')
  .filter((l) => l.startsWith('|'))
  .join('\n')
const rps = (label) => Number(new RegExp(`^\\| ${label}[^|]*\\| (\\d+) \\|`, 'm').exec(text)?.[1] ?? NaN)
const direct = rps('dev server direct')
const nginx = rps('nginx')
const gateway = rps('preview gateway')
const body = `From [bench/gateway/RESULTS.md](gateway/RESULTS.md), written by \`node bench/gateway/run.mjs\` on ${written}
(machine: ${machine}). Load: \`wrk -t1 -c32\` on loopback against a small Node fixture, interleaved rounds, medians;
the gateway in token mode with a valid cookie, rewriting Host and headers on every request. Rerun with
\`node bench/gateway.mjs --run\` (it calls bench/gateway/run.mjs and refreshes this section).

${tableText}

Summary (medians): gateway ${gateway} req/s = ${(gateway / nginx).toFixed(2)}x nginx and ${(gateway / direct).toFixed(2)}x direct. No target was set
for throughput; p99 per round is in the table (all three move together with the host's load).`
writeSection('gateway', '2. Gateway throughput and p99 against direct and nginx', `npm run build && node bench/gateway.mjs${arg('run', false) ? ' --run' : ''}`, body, [
  {figure: `gateway throughput (wrk, median of rounds, ${written.slice(0, 10)})`, value: `${gateway} req/s = ${(gateway / nginx).toFixed(2)}x nginx, ${(gateway / direct).toFixed(2)}x direct`},
  {figure: 'gateway p99 per round (direct / nginx in the section)', value: (/^\| preview gateway[^\n]*/m.exec(text)?.[0].split('|')[5] ?? '?').trim()},
])
console.log(body)
