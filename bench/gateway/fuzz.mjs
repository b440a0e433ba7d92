#!/usr/bin/env node
// The gateway's differential fuzzer at bench scale: the test suite's harness (test/fuzz/) against the built gateway
// in dist/, a million cases by default; writes the case count, seed, divergences and duration into
// bench/results.json (and the summary of bench/RESULTS.md), the divergence classes with their repros into
// bench/gateway/FUZZ.md.
//
//   npm run build && node bench/gateway/fuzz.mjs [--cases 1000000] [--seed 20261201]
//
// It runs the suite's own test file under vitest (one worker) with FUZZ_GATEWAY pointing at dist/, so the bench and
// the suite cannot drift apart. Exit code: vitest's (1 when there are divergences); the figures are written either way.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {arg, machineLine, ROOT, writeSection} from '../lib/common.mjs'

const CASES = arg('cases', 1_000_000)
const SEED = arg('seed', 20_261_201)
// The gateway's module in dist/: the rewritten gateway's folder when it exists, else the single file.
const candidates = ['dist/core/gateway/index.js', 'dist/core/gateway/index.js'].map((p) => path.join(ROOT, p))
const gateway = candidates.find((p) => existsSync(p))
if (!gateway) throw new Error('dist/ has no gateway: run `npm run build` first.')

const dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-fuzz-'))
const report = path.join(dir, 'report.json')
const started = Date.now()
const run = spawnSync(
  process.execPath,
  [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/fuzz/gateway-differential.test.ts', '--maxWorkers', '1', '--testNamePattern', 'every request the app parses'],
  {
    cwd: ROOT,
    env: {
      ...process.env,
      FUZZ_CASES: String(CASES),
      FUZZ_GATEWAY: gateway,
      FUZZ_REPORT: report,
      FUZZ_SEED: String(SEED),
      // About 1 ms per case on a quiet 2-core machine; leave room for a loaded one and for shrinking.
      FUZZ_TIMEOUT_MS: String(Math.max(600_000, CASES * 20)),
    },
    stdio: 'inherit',
  },
)
if (!existsSync(report)) {
  rmSync(dir, {force: true, recursive: true})
  throw new Error(`the fuzz run wrote no report (vitest exit ${run.status}, ${((Date.now() - started) / 1000).toFixed(0)} s)`)
}

const result = JSON.parse(readFileSync(report, 'utf8'))
rmSync(dir, {force: true, recursive: true})
const seconds = (result.durationMs / 1000).toFixed(1)
const classes = result.classes
  .map((c) => `- \`${c.kind}\` (${c.count} cases, mode ${c.repro.mode}): ${c.detail}\n\n  \`\`\`\n  ${JSON.stringify(c.repro.stream).replaceAll(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}\n  \`\`\``)
  .join('\n')
const body = `The differential fuzzer (test/fuzz/harness.ts): each case is a client byte stream sent through the gateway
into a node:http server and straight into a second one; every request the app's parser (llhttp) makes of the
gateway's output must be one the gateway checked and forwarded, llhttp must parse each forwarded request the same way
from the raw bytes, and none of our credentials may reach the app.

| cases | seed | divergent cases | classes | duration | gateway |
| --- | --- | --- | --- | --- | --- |
| ${result.cases} | ${result.seed} | ${result.divergentCases} | ${result.classes.length} | ${seconds} s | \`${path.relative(ROOT, gateway)}\` |

${classes === '' ? 'No divergence.' : `Divergence classes, each with its shrunk reproduction (JSON-escaped bytes):\n\n${classes}`}
`
const command = `npm run build && node bench/gateway/fuzz.mjs --cases ${CASES} --seed ${SEED}`
writeFileSync(
  path.join(ROOT, 'bench', 'gateway', 'FUZZ.md'),
  `# Gateway differential fuzz\n\nWritten by \`${command}\` on ${new Date().toISOString()}.\nMachine: ${machineLine()}.\n\n${body}`,
)
writeSection('gateway-fuzz', 'Gateway differential fuzz', command, `${body.split('\n\n').slice(0, 2).join('\n\n')}\n\nClasses and repros: [bench/gateway/FUZZ.md](gateway/FUZZ.md).`, [
  {
    cases: result.cases,
    classes: result.classes.length,
    divergences: result.divergentCases,
    duration_s: Number(seconds),
    figure: `gateway differential fuzz (${result.cases} cases, seed ${result.seed}, ${seconds} s)`,
    met: result.divergentCases === 0,
    seed: result.seed,
    target: '0 divergences',
    value: `${result.divergentCases} divergences in ${result.classes.length} classes`,
  },
])
console.log(`gateway fuzz bench: ${result.cases} cases, seed ${result.seed}, ${result.divergentCases} divergences, ${seconds} s`)
process.exitCode = run.status ?? 1
