#!/usr/bin/env node
// Benchmark 8: the Caddy edge (issue 16). Against Debian's caddy on loopback: what a route costs to add and remove
// (as `preview start/stop` sees it, and per admin API call), how that grows with the routes already in one Caddy
// (the 100th, 250th, 500th add), concurrent adds, Caddy's memory per route, and a preview's first byte through
// Caddy against the gateway alone and the dev server alone. Writes the `edge` section of bench/RESULTS.md.
//
//   npm run build && node bench/edge.mjs [--routes 500] [--samples 200] [--starts 5] [--no-write]
import {spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {ROOT, arg, freePort, json, makeRepo, median, ms, percentile, requireBuild, runCli, table, tcpOpen, waitFor, writeSection} from './lib/common.mjs'

const ROUTES = arg('routes', 500)
const SAMPLES = arg('samples', 200)
const STARTS = arg('starts', 5)
const WRITE = !process.argv.includes('--no-write')
const CHECKPOINTS = [1, 100, 250, 500, 1000].filter((n) => n <= ROUTES)

requireBuild()
const caddyJs = await import(pathToFileURL(path.join(ROOT, 'dist', 'core', 'tunnels', 'drivers', 'caddy.js')).href)
const {CaddyAdmin, addRoute, caddyRoute, removeRoute} = caddyJs

function rssMiB(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
  return Number(line.split(/\s+/)[1]) / 1024
}

async function startCaddy() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-caddy-'))
  const adminPort = await freePort()
  const httpPort = await freePort()
  const file = path.join(dir, 'caddy.json')
  writeFileSync(
    file,
    JSON.stringify({
      admin: {listen: `127.0.0.1:${adminPort}`},
      apps: {http: {servers: {edge: {automatic_https: {disable: true}, listen: [`127.0.0.1:${httpPort}`]}}}},
      logging: {logs: {default: {level: 'ERROR', writer: {filename: path.join(dir, 'caddy.log'), output: 'file'}}}},
    }),
  )
  const child = spawn('caddy', ['run', '--config', file], {
    env: {...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'c'), XDG_DATA_HOME: path.join(dir, 'd')},
    stdio: 'ignore',
  })
  if (!(await waitFor(async () => (await tcpOpen(adminPort)) && (await tcpOpen(httpPort)), 10_000))) throw new Error('caddy did not start')
  const version = await new Promise((resolve) => {
    const v = spawn('caddy', ['version'], {stdio: ['ignore', 'pipe', 'ignore']})
    let out = ''
    v.stdout.on('data', (d) => (out += d))
    v.on('close', () => resolve(out.trim().split(' ')[0]))
  })
  return {
    adminUrl: `http://127.0.0.1:${adminPort}`,
    dir,
    httpPort,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
      rmSync(dir, {force: true, recursive: true})
    },
    version,
  }
}

/** Time to the first byte of a GET on a fresh connection (what a new visitor, or a reconnecting HMR client, pays). */
function ttfb(port, host) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = http.request({agent: false, headers: {host}, host: '127.0.0.1', path: '/', port}, (res) => {
      res.once('data', () => {
        const t = performance.now() - t0
        res.resume()
        res.on('end', () => (res.statusCode === 200 ? resolve(t) : reject(new Error(`HTTP ${res.statusCode} via ${port}`))))
      })
    })
    req.on('error', reject)
    req.end()
  })
}

async function timed(fn) {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}

const stats = (xs) => `${ms(median(xs), 2)} / ${ms(percentile(xs, 99), 2)}`

async function main() {
  const caddy = await startCaddy()
  const repo = makeRepo('bench-edge-')
  const sdd = path.join(repo.dir, '.sdd')
  const config = {providers: {caddy: {admin_url: caddy.adminUrl, url_template: `http://{id}.preview.localhost:${caddy.httpPort}`}}}
  const admin = new CaddyAdmin(caddy.adminUrl)
  try {
    mkdirSync(sdd, {recursive: true})
    writeFileSync(path.join(sdd, 'preview.yaml'), JSON.stringify(config))

    // 1. As the user sees it: `preview start` to the link and `preview stop`, local vs caddy, interleaved.
    const start = {caddy: [], local: []}
    const stop = {caddy: [], local: []}
    for (let i = 0; i < STARTS + 1; i += 1) {
      for (const provider of ['local', 'caddy']) {
        const r = await runCli(['start', '--provider', provider, '--auth', 'none', '--cwd', '.', '--command', 'node server.js', '--json'], {cwd: repo.dir})
        if (r.code !== 0) throw new Error(`start --provider ${provider} failed: ${r.stderr}${r.stdout}`)
        const row = json(r)
        const s = await runCli(['stop', row.preview_id], {cwd: repo.dir})
        if (s.code !== 0) throw new Error(`stop failed: ${s.stderr}`)
        if (i === 0) continue // warm-up
        start[provider].push(r.jsonAtMs)
        stop[provider].push(s.wallMs)
      }
    }

    // 2. Per admin API call, on an empty Caddy: add (GET the servers + POST the route) and remove (DELETE by id).
    const add0 = []
    const remove0 = []
    for (let i = 0; i < 30; i += 1) {
      const id = `preview-bench-${i}`
      add0.push(await timed(() => addRoute(admin, null, caddyRoute(id, `${id}.preview.localhost`, '127.0.0.1:1'), `${id}.preview.localhost`)))
      remove0.push(await timed(() => removeRoute(admin, id)))
    }

    // 3. First byte: dev server alone, gateway alone, through Caddy (one preview, auth none), interleaved.
    const r = await runCli(['start', '--provider', 'caddy', '--auth', 'none', '--cwd', '.', '--command', 'node server.js', '--json'], {cwd: repo.dir})
    const row = json(r)
    const host = new URL(row.public_url).host
    const first = {caddy: [], dev: [], gateway: []}
    for (let i = 0; i < 20; i += 1) await ttfb(caddy.httpPort, host) // warm-up
    for (let i = 0; i < SAMPLES; i += 1) {
      first.dev.push(await ttfb(row.port, host))
      first.gateway.push(await ttfb(row.gateway_port, host))
      first.caddy.push(await ttfb(caddy.httpPort, host))
    }

    // 4. Routes per Caddy: add ROUTES more, one after the other; time each add; the preview's first byte with
    //    all of them in front of a route appended last (Caddy tries routes in order).
    const rss0 = rssMiB(caddy.pid)
    const adds = []
    for (let n = 1; n <= ROUTES; n += 1) {
      const id = `preview-fill-${n}`
      adds.push(await timed(() => addRoute(admin, null, caddyRoute(id, `${id}.preview.localhost`, '127.0.0.1:1'), `${id}.preview.localhost`)))
    }

    const rssN = rssMiB(caddy.pid)
    const lastHost = `last.preview.localhost:${caddy.httpPort}`
    await addRoute(admin, null, caddyRoute('preview-last', 'last.preview.localhost', `127.0.0.1:${row.gateway_port}`), 'last.preview.localhost')
    const firstN = {first: [], last: []}
    for (let i = 0; i < SAMPLES; i += 1) {
      firstN.first.push(await ttfb(caddy.httpPort, host))
      firstN.last.push(await ttfb(caddy.httpPort, lastHost))
    }

    const removeN = []
    for (let n = ROUTES; n > ROUTES - 10; n -= 1) removeN.push(await timed(() => removeRoute(admin, `preview-fill-${n}`)))
    await removeRoute(admin, 'preview-last')
    for (let n = ROUTES - 10; n >= 1; n -= 1) await removeRoute(admin, `preview-fill-${n}`)

    // 5. Concurrent adds (as from many hosts at once): 50 in flight, then check all 50 landed.
    const t0 = performance.now()
    await Promise.all(
      Array.from({length: 50}, (_, i) => addRoute(admin, null, caddyRoute(`preview-conc-${i}`, `c${i}.preview.localhost`, '127.0.0.1:1'), `c${i}.preview.localhost`)),
    )
    const concMs = performance.now() - t0
    const routes = (await admin.ok('GET', '/config/apps/http/servers/edge/routes')) ?? []
    const landed = routes.filter((x) => String(x['@id']).startsWith('preview-conc-')).length
    await Promise.all(Array.from({length: 50}, (_, i) => removeRoute(admin, `preview-conc-${i}`)))
    await runCli(['stop', row.preview_id], {cwd: repo.dir})

    const at = (n) => median(adds.slice(Math.max(0, n - 3), Math.min(adds.length, n + 2)))
    const result = {add0, adds: CHECKPOINTS.map((n) => [n, at(n)]), concMs, first, firstN, landed, remove0, removeN, rss0, rssN, start, stop}
    const overhead = median(start.caddy) - median(start.local)
    const body = `Caddy ${caddy.version} (Debian) started by the script with a JSON config: admin API and one HTTP server on loopback
ports, automatic HTTPS off, logs at ERROR. A temp repo with \`node server.js\`; \`.sdd/preview.yaml\` points
\`providers.caddy\` at that Caddy. Medians; "p50 / p99" where both are given.

**Registration and removal as \`preview\` does them.** \`preview start --auth none --json\` to the printed link and
\`preview stop <id>\`, ${STARTS} runs each after a warm-up, \`--provider local\` and \`--provider caddy\` interleaved:

${table(
  ['', '--provider local', '--provider caddy', 'difference'],
  [
    ['`preview start` -> link', ms(median(start.local)), ms(median(start.caddy)), `**${ms(overhead)}**`],
    ['`preview stop`', ms(median(stop.local)), ms(median(stop.caddy)), ms(median(stop.caddy) - median(stop.local))],
  ],
)}

Per admin API call, on an otherwise empty server (30 each): **add ${stats(add0)}** (\`GET .../servers\` to find the
server and check for a catch-all, then \`POST .../routes/...\`), **remove ${stats(remove0)}** (\`GET /id/preview-<id>\` for its path
and ETag, \`DELETE\` of that path with \`If-Match\`, then the lookup that answers 404).

**Routes per Caddy.** ${ROUTES} routes added one after the other (each a host matcher and a \`reverse_proxy\`). Caddy
re-provisions its whole config on every change, so an add costs more the more routes there are (median of the 5 adds
around each point):

${table(['routes already there', ...CHECKPOINTS.map((n) => String(n - 1))], [['time to add one more', ...CHECKPOINTS.map((n) => ms(at(n), 1))]])}

Removing one of ${ROUTES}: ${stats(removeN)} (10 removals). Caddy's resident memory: ${rss0.toFixed(1)} MiB with 1 route, ${rssN.toFixed(1)} MiB with ${ROUTES + 1} (${(((rssN - rss0) * 1024) / ROUTES).toFixed(1)} KiB a route).
50 adds in flight at once (as from many hosts): all **${landed} / 50** landed, in ${ms(concMs)} in total.

**First byte** of \`GET /\` on a fresh connection (${SAMPLES} samples each, interleaved; the dev server answers a few
hundred bytes):

${table(
  ['path', 'p50 / p99'],
  [
    ['dev server alone', stats(first.dev)],
    ['gateway alone (auth none)', stats(first.gateway)],
    ['Caddy -> gateway (1 route)', stats(first.caddy)],
    [`Caddy -> gateway, route first of ${ROUTES + 2}`, stats(firstN.first)],
    [`Caddy -> gateway, route last of ${ROUTES + 2}`, stats(firstN.last)],
  ],
)}

Caddy adds ${ms(median(first.caddy) - median(first.gateway), 2)} at the median over the gateway alone (one more
loopback hop and its proxy). The machine is shared: the load average above says how busy it was, and the p99s and
the start/stop rows move with it. Caddy tries routes in order, so a host at the end of ${ROUTES + 2} routes pays for the
host matchers in front of it.`
    if (WRITE) {
      writeSection('edge', '8. The Caddy edge: route registration, routes per Caddy, first byte (issue 16)', 'npm run build && node bench/edge.mjs', body, [
        {figure: '`preview start` -> link, --provider caddy minus --provider local', value: ms(overhead)},
        {figure: 'Caddy route add / remove per admin call (p50, empty server)', value: `${ms(median(add0), 1)} / ${ms(median(remove0), 1)}`},
        {figure: `Caddy route add with ${CHECKPOINTS.map((n) => n - 1).join(' / ')} routes there`, value: CHECKPOINTS.map((n) => ms(at(n), 0)).join(' / ')},
        {figure: 'first byte p50: gateway alone / through Caddy', value: `${ms(median(first.gateway), 2)} / ${ms(median(first.caddy), 2)}`},
      ])
    }

    console.log(JSON.stringify(result, (k, v) => (Array.isArray(v) && v.length > 20 ? `${v.length} samples` : v), 2))
  } finally {
    await runCli(['stop', '--all'], {cwd: repo.dir}).catch(() => null)
    await caddy.stop()
    repo.cleanup()
  }
}

await main()
