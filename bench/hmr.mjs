#!/usr/bin/env node
// Benchmark 3: HMR latency through the gateway against direct. A WebSocket fixture (bench/lib/ws-push-server.mjs,
// the `ws` package) runs as the dev server of a preview (local provider, token auth). The client connects to it
// directly and through the gateway (session cookie from the share link, browser-like Origin) and measures, over
// --rounds interleaved rounds:
//   - server push: the fixture pushes small messages stamped with its clock; latency = receive time - stamp
//     (same machine, same clock source);
//   - echo round trip: send a small message, wait for it to come back.
// Writes the `hmr` section of bench/RESULTS.md.
//
//   npm run build && node bench/hmr.mjs [--pushes 1000] [--echoes 2000] [--rounds 3]
import path from 'node:path'
import WebSocket from 'ws'
import {BENCH, arg, json, makeRepo, ms, percentile, pidsInside, requireBuild, runCli, table, verdict, waitFor, writeSection} from './lib/common.mjs'

const PUSHES = arg('pushes', 1000)
const ECHOES = arg('echoes', 2000)
const ROUNDS = arg('rounds', 3)
const PUSH_INTERVAL_MS = 5
const TARGET_MS = 50
const now = () => performance.timeOrigin + performance.now()

function connect(url, headers) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {headers, perMessageDeflate: false})
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`)))
  })
}

/** Server-push latencies (ms) of `PUSHES` messages. */
function pushLatencies(ws) {
  return new Promise((resolve) => {
    const out = []
    const onMessage = (data) => {
      const text = data.toString()
      if (text === 'done') {
        ws.off('message', onMessage)
        resolve(out)
        return
      }

      out.push(now() - Number(text.slice(2)))
    }

    ws.on('message', onMessage)
    ws.send(`push:${PUSHES}:${PUSH_INTERVAL_MS}`)
  })
}

/** Round trips (ms) of `ECHOES` small messages, one at a time. */
async function echoLatencies(ws) {
  const out = []
  for (let i = 0; i < ECHOES; i++) {
    const t0 = performance.now()
    await new Promise((resolve) => {
      ws.once('message', resolve)
      ws.send(`echo:${i}:hmr-update-payload`)
    })
    out.push(performance.now() - t0)
  }

  return out
}

async function measure(url, headers) {
  const ws = await connect(url, headers)
  try {
    await echoLatencies(ws).then(() => undefined) // warm-up: JIT, socket buffers
    return {echo: await echoLatencies(ws), push: await pushLatencies(ws)}
  } finally {
    ws.close()
  }
}

async function main() {
  requireBuild()
  const repo = makeRepo('hmr-')
  try {
    const fixture = path.join(BENCH, 'lib', 'ws-push-server.mjs')
    const start = await runCli(['start', '--provider', 'local', '--auth', 'token', '--cwd', repo.dir, '--command', `node ${fixture}`, '--json'], {cwd: repo.dir})
    if (start.code !== 0) throw new Error(`preview start failed: ${start.stderr}`)
    const row = json(start)
    const first = await fetch(row.share_url, {redirect: 'manual'})
    const cookie = first.headers.get('set-cookie')?.split(';')[0]
    if (!cookie) throw new Error(`no session cookie (HTTP ${first.status})`)
    const gatewayOrigin = new URL(row.public_url).origin
    const targets = {
      direct: {headers: {Origin: `http://127.0.0.1:${row.port}`}, url: `ws://127.0.0.1:${row.port}/`},
      gateway: {headers: {Cookie: cookie, Origin: gatewayOrigin}, url: `${gatewayOrigin.replace('http', 'ws')}/`},
    }
    // Without the cookie the gateway must refuse the upgrade: the measured path is the authenticated one.
    const refused = await connect(targets.gateway.url, {Origin: gatewayOrigin}).then(
      (ws) => (ws.close(), false),
      () => true,
    )
    if (!refused) throw new Error('the gateway accepted a WebSocket without credentials')

    const all = {direct: {echo: [], push: []}, gateway: {echo: [], push: []}}
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of ['direct', 'gateway']) {
        const m = await measure(targets[name].url, targets[name].headers)
        all[name].echo.push(...m.echo)
        all[name].push.push(...m.push)
        process.stderr.write(`round ${r + 1} ${name}: push p50 ${ms(percentile(m.push, 50), 3)}, echo p50 ${ms(percentile(m.echo, 50), 3)}\n`)
      }
    }

    const stat = (xs) => ({p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs)})
    const rows = []
    const figs = []
    let met = true
    for (const kind of ['push', 'echo']) {
      const d = stat(all.direct[kind])
      const g = stat(all.gateway[kind])
      const worse = Math.max(g.p50 - d.p50, g.p99 - d.p99)
      met &&= worse <= TARGET_MS
      figs.push({
        figure: `WebSocket ${kind === 'push' ? 'server push' : 'echo round trip'}, gateway - direct (p50 / p99)`,
        met: worse <= TARGET_MS,
        target: `<= +${TARGET_MS} ms`,
        value: `+${ms(g.p50 - d.p50, 2)} / +${ms(g.p99 - d.p99, 2)}`,
      })
      for (const [name, s] of [
        ['direct', d],
        ['through the gateway', g],
      ]) {
        rows.push([
          kind === 'push' ? 'server push (one way)' : 'echo (round trip)',
          name,
          String(all[name === 'direct' ? 'direct' : 'gateway'][kind].length),
          ms(s.p50, 3),
          ms(s.p99, 3),
          ms(s.max, 1),
          name === 'direct' ? '' : `+${ms(g.p50 - d.p50, 3)} / +${ms(g.p99 - d.p99, 3)}`,
          name === 'direct' ? '' : `<= +${TARGET_MS} ms: ${verdict(worse <= TARGET_MS)}`,
        ])
      }
    }

    const body = `The dev server is \`bench/lib/ws-push-server.mjs\` (an HTTP server with a \`ws\` WebSocket endpoint), started by
\`preview start --provider local --auth token\`. The client (\`ws\`) connects directly to the dev server's port and
through the gateway with the session cookie the share link sets and a browser-like Origin (an upgrade without the
cookie is checked to be refused). Server push: the fixture pushes ${PUSHES} small messages ${PUSH_INTERVAL_MS} ms apart, each stamped with
its send time; latency = receive time - stamp (one machine, one clock). Echo: ${ECHOES} small messages sent one at a
time, each waiting for its echo. ${ROUNDS} interleaved rounds (direct, gateway), each after a warm-up of ${ECHOES} echoes; all
samples pooled.

${table(['what', 'path', 'samples', 'p50', 'p99', 'max', 'gateway - direct (p50 / p99)', 'target'], rows)}

Target: through the gateway at most ${TARGET_MS} ms slower than direct (checked on both p50 and p99): ${verdict(met)}.`
    writeSection('hmr', '3. HMR latency (WebSocket) through the gateway against direct', 'npm run build && node bench/hmr.mjs', body, figs)
    for (const r of rows) console.log(r.join('  '))
  } finally {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    await waitFor(() => pidsInside(repo.dir).length === 0, 10_000)
    repo.cleanup()
  }
}

await main()
