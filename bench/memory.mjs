#!/usr/bin/env node
// Benchmark 5: supervisor memory per preview. Starts --previews previews (local provider, token auth) of the plain
// Node dev server, reads each supervisor's VmRSS from /proc/<pid>/status after start, then drives a load burst
// through each gateway with a valid session cookie (wrk), and reads VmRSS (and the peak, VmHWM) again. Writes the
// `memory` section of bench/RESULTS.md.
//
//   npm run build && node bench/memory.mjs [--previews 2] [--duration 10] [--connections 32]
import {spawnSync} from 'node:child_process'
import {readFileSync, readdirSync} from 'node:fs'
import {ROOT, arg, json, makeRepo, ms, pidsInside, requireBuild, rssMiB, runCli, sleep, table, verdict, waitFor, writeSection} from './lib/common.mjs'

const PREVIEWS = arg('previews', 2)
const DURATION = arg('duration', 10)
const CONNECTIONS = arg('connections', 32)
const TARGET_MIB = 60

const mib = (x) => `${x.toFixed(1)} MiB`

/** Exchanges the share link's token for the gateway's session cookie (the first-visit redirect). */
async function sessionCookie(shareUrl) {
  const res = await fetch(shareUrl, {redirect: 'manual'})
  const cookie = res.headers.get('set-cookie')
  if (!cookie) throw new Error(`no session cookie from the share link (HTTP ${res.status})`)
  return cookie.split(';')[0]
}

/** wrk through the gateway; returns requests/s and the number of non-2xx answers (must be 0). */
function burst(url, cookie) {
  const res = spawnSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency', '-H', `Cookie: ${cookie}`, url], {encoding: 'utf8'})
  if (res.status !== 0) throw new Error(`wrk failed: ${res.stderr}`)
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(res.stdout)?.[1] ?? NaN)
  const bad = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(res.stdout)?.[1] ?? 0)
  const errors = /Socket errors:.*/.exec(res.stdout)?.[0] ?? ''
  return {bad, errors, rps}
}

/** Summed VmRSS (MiB) of a process group's live members: the dev server (sh, node) for scale. */
function groupRssMiB(pgid) {
  let total = 0
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid) total += rssMiB(pid).rss || 0
    } catch {}
  }

  return total
}

/** VmRSS (MiB) of a fresh node process after importing `spec` (none: bare node), 500 ms after the import. */
function importRss(spec) {
  const code = `import {readFileSync} from 'node:fs'
${spec ? `await import(${JSON.stringify(spec)})` : ''}
await new Promise((r) => setTimeout(r, 500))
console.log(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1])`
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', code], {cwd: ROOT, encoding: 'utf8'})
  return Number(res.stdout.trim()) / 1024
}

async function main() {
  requireBuild()
  const repo = makeRepo('memory-')
  try {
    const previews = []
    for (let i = 0; i < PREVIEWS; i++) {
      const start = await runCli(['start', '--provider', 'local', '--auth', 'token', '--cwd', repo.dir, '--json'], {cwd: repo.dir})
      if (start.code !== 0) throw new Error(`preview start failed: ${start.stderr}`)
      previews.push(json(start))
    }

    await sleep(2000) // let start-up garbage be collected before the first reading
    const rows = []
    let worst = 0
    for (const p of previews) {
      const status = json(await runCli(['status', p.preview_id, '--json'], {cwd: repo.dir}))
      const sup = status.supervisor_pid
      const afterStart = rssMiB(sup)
      const dev = groupRssMiB(status.process_pgid)
      const cookie = await sessionCookie(p.share_url)
      const load = burst(p.public_url, cookie)
      if (load.bad > 0) throw new Error(`${load.bad} refused or failed responses through the gateway`)
      const afterBurst = rssMiB(sup)
      await sleep(3000)
      const settled = rssMiB(sup)
      worst = Math.max(worst, afterStart.rss, afterBurst.rss, settled.rss, settled.hwm)
      rows.push([
        p.preview_id,
        mib(afterStart.rss),
        `${load.rps.toFixed(0)} req/s${load.errors ? ` (${load.errors})` : ''}`,
        `**${mib(afterBurst.rss)}**`,
        mib(settled.rss),
        mib(settled.hwm),
        mib(dev),
        `< ${TARGET_MIB} MiB: ${verdict(Math.max(afterStart.rss, afterBurst.rss, settled.rss, settled.hwm) < TARGET_MIB)}`,
      ])
    }

    const footprint = [
      ['bare node', null],
      ['jose', 'jose'],
      ['dist/core/tunnels/registry.js (every driver)', './dist/core/tunnels/registry.js'],
      ['dist/core/gateway/index.js', './dist/core/gateway/index.js'],
      ['dist/core/supervisor/supervisor.js (what the supervisor loads)', './dist/core/supervisor/supervisor.js'],
    ].map(([label, spec]) => [label, importRss(spec)])
    const bare = footprint[0][1]
    const body = `${PREVIEWS} previews of the plain Node dev server (local provider, token auth), started one after the other in one
repo. For each: the supervisor's VmRSS (\`/proc/<pid>/status\`) 2 s after start; then \`wrk -t1 -c${CONNECTIONS} -d${DURATION}s\`
through its gateway with a valid session cookie (every response 2xx, checked); VmRSS right after, 3 s later, and the
peak VmHWM over the supervisor's life. The dev server's RSS (its process group: sh + node) is given for scale, and a
bare \`node -e\` process idles at about 40 MiB here. /proc reports KiB, so figures are MiB; the target (60 MB) is
read as 60 MiB and checked against the highest of the four readings.${process.env.NODE_OPTIONS ? ` NODE_OPTIONS for this run: \`${process.env.NODE_OPTIONS}\`.` : ''}

${table(['preview', 'RSS after start', 'burst', 'RSS after burst', 'RSS 3 s later', 'peak (VmHWM)', 'dev server RSS', 'target'], rows)}

Where the supervisor's memory comes from: VmRSS of a fresh node process 500 ms after importing one module (no work done).

${table(['import', 'VmRSS', 'over bare node'], footprint.map(([label, v]) => [label, mib(v), label === 'bare node' ? '' : `+${mib(v - bare)}`]))}

Reading: most of a supervisor is Node itself. jose (the largest import in the table) is no longer loaded by
supervisors: the CLI mints the first link's token while the supervisor starts and hands it over on IPC, and the
gateway verifies tokens with node:crypto. What grows after a burst is socket and buffer memory, which the
readings 3 s later show settling.`
    writeSection('memory', '5. Supervisor memory per preview', 'npm run build && node bench/memory.mjs', body, [
      {figure: 'supervisor RSS per preview, highest reading (after start, after a burst, peak)', met: worst < TARGET_MIB, target: `< ${TARGET_MIB} MiB`, value: mib(worst)},
    ])
    for (const r of rows) console.log(r.join('  '))
  } finally {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    await waitFor(() => pidsInside(repo.dir).length === 0, 10_000)
    repo.cleanup()
  }
}

await main()
