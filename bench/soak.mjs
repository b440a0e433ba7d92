#!/usr/bin/env node
// Soak (issue 6): --cycles start/stop cycles of a preview in one temp repo, through the real CLI, and a report of
// what is left behind: leaked processes (must be 0: any live process whose cwd is inside the temp repo, and every
// supervisor pid of every cycle, checked with its start time), ports still open, the state file's size and rows,
// the audit log's line count and chain (`preview audit verify` when the command exists, else the chain is checked
// here with the MAC functions from dist/), lock directories and files left over. Writes the `soak` section of
// bench/RESULTS.md (unless --no-write) and exits 1 when anything leaked.
//
//   npm run build && node bench/soak.mjs [--cycles 200] [--cwd-mode] [--no-write]
//
// By default every start goes through the default sandbox (a worktree under .sdd/worktrees, created by the first
// start and reused after); --cwd-mode passes --cwd <repo> instead.
import {existsSync, readFileSync, readdirSync, statSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {ROOT, alive, arg, json, makeRepo, median, ms, percentile, pidsInside, requireBuild, runCli, sleep, table, tcpOpen, writeSection} from './lib/common.mjs'

const CYCLES = arg('cycles', 200)
const CWD_MODE = arg('cwd-mode', false)
const WRITE = !arg('no-write', false)

function startTime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
  } catch {
    return null
  }
}

/** A supervisor pid from a past cycle still alive as that same process (pid and start time both match). */
function stillAlive(pid, start) {
  return alive(pid) && (start === null || startTime(pid) === start)
}

/** Files (recursively) under a dir, with a predicate. */
function walk(dir, pred, out = []) {
  if (!existsSync(dir)) return out
  for (const e of readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name)
    if (pred(p, e)) out.push(p)
    if (e.isDirectory() && e.name !== '.git' && e.name !== 'worktrees') walk(p, pred, out)
  }

  return out
}

function hasAuditVerify() {
  try {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8'))
    return Boolean(manifest.commands['audit:verify'])
  } catch {
    return false
  }
}

/** Recomputes every line's MAC and prev link with the project's own functions (used when `audit verify` is absent). */
async function checkChain(sddDir) {
  const audit = await import(pathToFileURL(path.join(ROOT, 'dist', 'core', 'preview', 'audit.js')).href)
  const {sddPaths} = await import(pathToFileURL(path.join(ROOT, 'dist', 'core', 'preview', 'paths.js')).href)
  const paths = sddPaths(sddDir)
  const key = readFileSync(paths.auditKey)
  let prev = null
  let seq = 0
  for (const line of audit.readAuditLines(paths)) {
    const entry = JSON.parse(line)
    seq += 1
    if (entry.seq !== seq || entry.prev !== prev || audit.macOf(key, entry) !== entry.mac) return {bad: entry.seq ?? seq, ok: false}
    prev = entry.mac
  }

  return {entries: seq, ok: true}
}

async function main() {
  requireBuild()
  const repo = makeRepo('soak-')
  const sddDir = path.join(repo.dir, '.sdd')
  const supervisors = []
  const problems = []
  const startMs = []
  const stopMs = []
  const lingering = []
  let openPorts = 0
  const t0 = Date.now()
  try {
    for (let i = 1; i <= CYCLES; i++) {
      const args = ['start', '--provider', 'local', '--auth', 'token', '--expire', '30m', '--json', ...(CWD_MODE ? ['--cwd', repo.dir] : [])]
      const start = await runCli(args, {cwd: repo.dir})
      if (start.code !== 0) {
        problems.push(`cycle ${i}: start exited ${start.code}: ${start.stderr.trim().split('\n')[0]}`)
        continue
      }

      startMs.push(start.wallMs)
      const row = json(start)
      supervisors.push({pid: row.supervisor_pid, start: row.supervisor_start_time ?? null})
      // The link works: token -> cookie -> page (what a visitor does), every cycle.
      const first = await fetch(row.share_url, {redirect: 'manual'})
      const cookie = first.headers.get('set-cookie')?.split(';')[0]
      const page = cookie ? await fetch(row.public_url, {headers: {cookie}}) : null
      if (page?.status !== 200) problems.push(`cycle ${i}: the link did not serve the page (${first.status} then ${page?.status})`)
      else await page.text()

      const stop = await runCli(['stop', row.preview_id, '--json'], {cwd: repo.dir})
      stopMs.push(stop.wallMs)
      if (stop.code !== 0) problems.push(`cycle ${i}: stop exited ${stop.code}: ${stop.stderr.trim().split('\n')[0]}`)
      // Right after `preview stop` returns, nothing of this preview may be running or listening.
      const left = pidsInside(repo.dir)
      if (left.length > 0) lingering.push({cycle: i, left})
      for (const port of [row.port, row.gateway_port]) if (port && (await tcpOpen(port))) openPorts += 1
      if (i % 20 === 0 || i === CYCLES) {
        process.stderr.write(`cycle ${i}/${CYCLES}: start ${ms(median(startMs))} median, stop ${ms(median(stopMs))} median, ${problems.length} problems\n`)
      }
    }

    const durationS = (Date.now() - t0) / 1000
    await sleep(2000) // a grace period (init here reaps orphans late) before the final count
    const leaked = pidsInside(repo.dir)
    const leakedSupervisors = supervisors.filter((s) => stillAlive(s.pid, s.start))
    const paths = {
      audit: path.join(sddDir, 'audit', 'preview.jsonl'),
      logs: path.join(sddDir, 'runtime', 'preview', 'logs'),
      state: path.join(sddDir, 'runtime', 'preview', 'state.json'),
    }
    const stateBytes = existsSync(paths.state) ? statSync(paths.state).size : 0
    const stateRows = existsSync(paths.state) ? JSON.parse(readFileSync(paths.state, 'utf8')).previews.length : 0
    const auditLines = existsSync(paths.audit) ? readFileSync(paths.audit, 'utf8').split('\n').filter((l) => l.trim()).length : 0
    const auditEvents = {}
    if (existsSync(paths.audit)) {
      for (const l of readFileSync(paths.audit, 'utf8').split('\n').filter((x) => x.trim())) {
        const e = JSON.parse(l).event
        auditEvents[e] = (auditEvents[e] ?? 0) + 1
      }
    }

    let verify
    if (hasAuditVerify()) {
      const v = await runCli(['audit', 'verify', '--json'], {cwd: repo.dir})
      verify = `\`preview audit verify --json\`: exit ${v.code}, ${v.stdout.trim().replaceAll('\n', ' ').slice(0, 300)}`
    } else {
      const c = await checkChain(sddDir)
      verify = `\`preview audit verify\` does not exist on this build; chain recomputed by the bench with dist/core/records/audit.js macOf: ${
        c.ok ? `intact (${c.entries} entries)` : `**broken at seq ${c.bad}**`
      }`
    }

    const locks = walk(sddDir, (p) => p.endsWith('.lock'))
    const logs = existsSync(paths.logs) ? readdirSync(paths.logs) : []
    const logBytes = logs.reduce((a, f) => a + statSync(path.join(paths.logs, f)).size, 0)
    const worktrees = existsSync(path.join(sddDir, 'worktrees')) ? readdirSync(path.join(sddDir, 'worktrees')).length : 0
    const leakCount = leaked.length + leakedSupervisors.length
    const result = {
      auditEvents,
      auditLines,
      cycles: CYCLES,
      durationS,
      leakCount,
      leaked,
      leakedSupervisors,
      lingering: lingering.length,
      locks: locks.length,
      logBytes,
      logs: logs.length,
      openPorts,
      problems,
      stateBytes,
      stateRows,
      verify,
      worktrees,
    }
    const rows = [
      ['cycles completed (start ok, link served, stop ok)', `${CYCLES - problems.length} / ${CYCLES}`],
      ['**leaked processes** (cwd inside the repo, after a 2 s grace)', `**${leaked.length}**${leaked.length ? `: ${leaked.map((p) => `${p.pid} ${p.cmd}`).join('; ')}` : ''}`],
      ['**leaked supervisors** (pid + start time of each cycle still alive)', `**${leakedSupervisors.length}** of ${supervisors.length}`],
      ['cycles with a process still alive right after `stop` returned', String(lingering.length)],
      ['dev server or gateway ports still open right after `stop`', String(openPorts)],
      ['state.json at the end', `${stateBytes} bytes, ${stateRows} rows`],
      ['audit log lines', `${auditLines} (${Object.entries(auditEvents).map(([k, v]) => `${k} ${v}`).join(', ')})`],
      ['audit chain', verify],
      ['lock files/dirs left (`*.lock`)', String(locks.length)],
      ['log files left in .sdd/runtime/preview/logs', `${logs.length} (${(logBytes / 1024).toFixed(0)} KiB)`],
      ['worktrees under .sdd/worktrees', String(worktrees)],
      ['`preview start` wall time, p50 / p99', `${ms(median(startMs))} / ${ms(percentile(startMs, 99))}`],
      ['`preview stop` wall time, p50 / p99', `${ms(median(stopMs))} / ${ms(percentile(stopMs, 99))}`],
      // A drift from the first cycles to the last would mean something grows with use (logs, audit, state).
      ['`preview start` median, first 20 cycles -> last 20', `${ms(median(startMs.slice(0, 20)))} -> ${ms(median(startMs.slice(-20)))}`],
      ['`preview stop` median, first 20 cycles -> last 20', `${ms(median(stopMs.slice(0, 20)))} -> ${ms(median(stopMs.slice(-20)))}`],
      ['total duration', `${durationS.toFixed(0)} s`],
    ]
    const body = `${CYCLES} cycles, one after the other, in one temp repo (${CWD_MODE ? '`--cwd <repo>`' : 'default sandbox: a worktree made by the first start and reused'}):
\`preview start --provider local --auth token --expire 30m --json\`, fetch the share link (token -> cookie -> page,
must be 200), \`preview stop <id> --json\`, then look for anything left. Result: **${leakCount === 0 ? 'no leaks' : `${leakCount} leaked`}**${
      problems.length ? `, ${problems.length} problems:\n\n${problems.slice(0, 10).map((p) => `- ${p}`).join('\n')}` : ''
    }.

${table(['check', 'result'], rows)}`
    if (WRITE) writeSection('soak', `7. Soak: ${CYCLES} start/stop cycles (issue 6)`, `npm run build && node bench/soak.mjs --cycles ${CYCLES}`, body, [
        {figure: `soak: leaked processes + supervisors after ${CYCLES} start/stop cycles`, met: leakCount === 0, target: '0', value: String(leakCount)},
        {figure: 'soak: state.json size at the end', value: `${stateBytes} bytes (${stateRows} rows)`},
        {figure: 'soak: audit lines, chain', value: `${auditLines}, ${verify.includes('intact') || /"ok":\s*true|valid/i.test(verify) ? 'intact' : 'see section'}`},
      ])
    console.log(JSON.stringify(result, null, 2))
    if (leakCount > 0 || problems.length > 0) process.exitCode = 1
  } finally {
    // Whatever a failed run left: stop it, so the temp repo can go.
    await runCli(['stop', '--all'], {cwd: repo.dir}).catch(() => null)
    repo.cleanup()
  }
}

await main()
