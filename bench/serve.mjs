#!/usr/bin/env node
// Benchmark 8: `preview serve`. One host serving --refs branches of one repository at once (all must answer);
// the host's own RSS (VmRSS of its pid: the dev servers are other processes) before any preview and with all of
// them running, so the RSS each preview adds to the host; and the cold first-request latency of a ref against the
// same dev server started by hand (spawned with PORT in its own process group, timed until a GET answers).
// Writes the `serve` section of bench/RESULTS.md.
//
//   npm run build && node bench/serve.mjs [--refs 20] [--cold 5]
import {spawn} from 'node:child_process'
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import {BIN, CLI_ENV, arg, freePort, git, makeRepo, median, ms, pidsInside, requireBuild, rssMiB, sleep, table, writeSection} from './lib/common.mjs'

const REFS = arg('refs', 20)
const COLD = Math.min(arg('cold', 5), REFS)
const mib = (x) => `${x.toFixed(1)} MiB`

function get(port, host, timeoutMs = 60_000, urlPath = '/') {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const req = http.request({agent: false, headers: {host}, host: '127.0.0.1', path: urlPath, port}, (res) => {
      let body = ''
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({body, ms: performance.now() - t0, status: res.statusCode}))
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${host} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

function startHost(dir) {
  const child = spawn(process.execPath, [BIN, 'serve', '.', '--port', '0', '--idle-ttl', '1h'], {cwd: dir, env: {...process.env, ...CLI_ENV}, stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${out} ${err}`)), 30_000)
    child.stdout.on('data', () => {
      const m = /Serving on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      resolve({
        child,
        port: Number(m[1]),
        stop: () =>
          new Promise((r) => {
            child.once('exit', r)
            child.kill('SIGTERM')
          }),
      })
    })
  })
}

/** Summed VmRSS of the processes whose cwd is inside `dir` except `exclude` (the dev servers, for scale). */
function rssInside(dir, exclude) {
  let total = 0
  for (const {pid} of pidsInside(dir)) if (pid !== exclude) total += rssMiB(pid).rss || 0
  return total
}

/** The dev server by hand: `node server.js` with PORT in its own process group, spawn until a GET answers. */
async function byHand(cwd) {
  const port = await freePort()
  const t0 = performance.now()
  const child = spawn('/bin/sh', ['-c', 'node server.js'], {cwd, detached: true, env: {...process.env, HOST: '127.0.0.1', PORT: String(port)}, stdio: 'ignore'})
  let answered = null
  while (answered === null && performance.now() - t0 < 30_000) {
    try {
      const r = await get(port, `localhost:${port}`, 2000)
      if (r.status === 200) answered = performance.now() - t0
    } catch {
      await sleep(2)
    }
  }

  process.kill(-child.pid, 'SIGKILL')
  await sleep(50)
  return answered
}

requireBuild()
const repo = makeRepo('serve-')
const refs = Array.from({length: REFS}, (_, i) => `b${String(i + 1).padStart(2, '0')}`)
for (const ref of refs) {
  git(repo.dir, 'branch', ref)
}
mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
writeFileSync(path.join(repo.dir, '.sdd', 'preview.yaml'), 'command: node server.js\n')

let host = await startHost(repo.dir)
await sleep(500)
const baseRss = rssMiB(host.child.pid).rss

// Cold first requests, one at a time: a fresh worktree, then the dev server, then the proxied answer.
const cold = []
for (const ref of refs.slice(0, COLD)) {
  const r = await get(host.port, `${ref}.localhost`)
  if (r.status !== 200) throw new Error(`${ref}: HTTP ${r.status} ${r.body}`)
  cold.push(r.ms)
}
const warm = []
for (const ref of refs.slice(0, COLD)) warm.push((await get(host.port, `${ref}.localhost`)).ms)

// The rest all at once.
const t0 = performance.now()
const burst = await Promise.all(refs.slice(COLD).map((ref) => get(host.port, `${ref}.localhost`)))
const burstMs = performance.now() - t0
const all = await Promise.all(refs.map((ref) => get(host.port, `${ref}.localhost`)))
const answering = all.filter((r) => r.status === 200).length
const status = JSON.parse((await get(host.port, 'localhost', 10_000, '/-/preview.json')).body)
await sleep(1000)
const fullRss = rssMiB(host.child.pid).rss
const devRss = rssInside(repo.dir, host.child.pid)
const perPreview = (fullRss - baseRss) / REFS
await host.stop()
const leftAfterFirst = pidsInside(repo.dir).length

// Cold again with the worktrees kept (a restarted host, or a ref woken after its worktree was made).
host = await startHost(repo.dir)
const reused = []
for (const ref of refs.slice(0, COLD)) reused.push((await get(host.port, `${ref}.localhost`)).ms)
await host.stop()
const left = pidsInside(repo.dir).length + leftAfterFirst

// The same dev server by hand, in the same worktrees.
const hand = []
const worktrees = readdirSync(path.join(repo.dir, '.sdd', 'worktrees'))
for (const wt of worktrees.slice(0, COLD)) hand.push(await byHand(path.join(repo.dir, '.sdd', 'worktrees', wt)))
repo.cleanup()

const coldMed = median(cold)
const reusedMed = median(reused)
const handMed = median(hand)
const body = `
One repository with ${REFS} branches (\`node server.js\`, from \`command:\` in .sdd/preview.yaml), one
\`preview serve . --port 0 --idle-ttl 1h\`. Cold: the first request for a ref, one ref at a time (resolve the ref,
\`git worktree add\`, spawn, wait for the port, proxy the answer). Reused worktree: the same after a host restart
(the worktree is kept and reset). By hand: \`sh -c 'node server.js'\` with PORT in its own process group, from spawn
until a GET answers (polled every 2 ms), in the same worktrees. RSS is VmRSS of the host's own pid: the dev
servers are separate processes (their sum is shown for scale). ${COLD} refs are timed cold one by one, the other
${REFS - COLD} are started all at once.

${table(
  ['figure', 'value'],
  [
    ['refs served at once, answering 200', `${answering} / ${REFS} (running_servers ${status.running_servers})`],
    ['host RSS, no preview yet', mib(baseRss)],
    [`host RSS, ${REFS} previews running`, mib(fullRss)],
    ['host RSS added per preview (dev servers excluded)', `**${mib(perPreview)}**`],
    [`dev servers' RSS, sum of ${REFS} (one node each)`, mib(devRss)],
    [`cold first request, median of ${COLD} (${cold.map((x) => x.toFixed(0)).join(', ')} ms)`, ms(coldMed)],
    [`cold first request, worktree reused, median of ${COLD}`, ms(reusedMed)],
    [`the same dev server by hand, median of ${COLD}`, ms(handMed)],
    ['host cost on a cold request (reused worktree - by hand)', `**${ms(reusedMed - handMed)}**`],
    [`warm request, median of ${COLD}`, ms(median(warm))],
    [`${REFS - COLD} refs started at once: all answered after`, ms(burstMs)],
    ['processes left after SIGTERM (both runs)', String(left)],
  ],
)}

Against the detached design: \`preview start\` runs one supervisor per preview (about 60 MiB each, section 5);
here ${REFS} previews cost the host ${mib(fullRss - baseRss)} in all.
`
writeSection('serve', '8. Host mode: many refs on one `preview serve`', `npm run build && node bench/serve.mjs --refs ${REFS} --cold ${COLD}`, body, [
  {figure: `serve: host RSS added per preview, ${REFS} refs at once (dev servers excluded)`, value: mib(perPreview)},
  {figure: 'serve: cold first request (reused worktree) vs the dev server by hand', value: `${ms(reusedMed)} vs ${ms(handMed)} (+${ms(reusedMed - handMed)})`},
  {figure: 'serve: refs answering at once on one host', met: answering === REFS, target: `${REFS}/${REFS}`, value: `${answering}/${REFS}`},
])
console.log(body)
if (left > 0 || answering !== REFS) process.exitCode = 1
