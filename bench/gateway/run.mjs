#!/usr/bin/env node
// Gateway benchmark, one run: wrk against the dev server direct, nginx as a reverse proxy, the gateway with a valid
// token, and the other candidates, in front of a small JSON fixture and again in front of a trivial `hello` server;
// writes bench/gateway/RESULTS.md and bench/gateway/results.json.
//
//   npm run build && node bench/gateway/run.mjs [--duration 8] [--rounds 2] [--connections 32]
//
// Each target is measured `rounds` times, interleaved, and the median is reported (the machines are noisy).
import {spawn, spawnSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../..')
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? dflt : Number(process.argv[i + 1])
}

const DURATION = arg('duration', 8)
const ROUNDS = arg('rounds', 2)
const CONNECTIONS = arg('connections', 32)
const children = []

function startNode(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, script), ...args.map(String)], {stdio: ['ignore', 'pipe', 'inherit']})
    children.push(child)
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 10_000)
    child.stdout.on('data', (d) => {
      out += d
      const m = /READY (\d+)(?: (\S+))?/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({extra: m[2], port: Number(m[1])})
      }
    })
    child.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
  })
}

async function freePort() {
  const s = net.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const {port} = s.address()
  await new Promise((r) => s.close(r))
  return port
}

async function waitForPort(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }

  throw new Error(`nothing listens on ${port}`)
}

async function startNginx(target) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-nginx-'))
  const port = await freePort()
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, d))
  const conf = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${process.getuid?.() === 0 ? 'user root;' : ''}
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream dev { server 127.0.0.1:${target}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://dev;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host localhost:${target};
    }
  }
}
`
  writeFileSync(path.join(dir, 'nginx.conf'), conf)
  const child = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], {stdio: ['ignore', 'ignore', 'inherit']})
  children.push(child)
  await waitForPort(port)
  return {cleanup: () => rmSync(dir, {force: true, recursive: true}), port}
}

function wrk(port, headers = []) {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${DURATION}s`, '--latency']
  for (const h of headers) args.push('-H', h)
  args.push(`http://127.0.0.1:${port}/`)
  const r = spawnSync('wrk', args, {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`)
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1])
  const p99 = /99%\s+([\d.]+\w+)/.exec(r.stdout)?.[1] ?? '?'
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0)
  const errors = /Socket errors: (.*)/.exec(r.stdout)?.[1] ?? 'none'
  return {errors, non2xx, p99, rps}
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]
}

/** One suite: every target in front of one fixture, `ROUNDS` interleaved rounds each. */
async function suite(fixtureScript, names) {
  const fixture = await startNode(fixtureScript, [0])
  const nginx = await startNginx(fixture.port)
  const gateway = await startNode('gateway-proc.mjs', [fixture.port])
  const cookie = `Cookie: ${gateway.extra}`
  const all = [
    {headers: [], name: 'dev server direct', port: fixture.port},
    {headers: [], name: 'nginx reverse proxy (1 worker, keepalive upstream)', port: nginx.port},
    {headers: [cookie], name: 'preview gateway (token cookie)', port: gateway.port},
  ]
  for (const [script, name, withCookie] of names) {
    const c = await startNode(script, [fixture.port])
    all.push({headers: withCookie ? [cookie] : [], name, port: c.port})
  }

  const runs = new Map(all.map((t) => [t.name, []]))
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of all) {
        const r = wrk(t.port, t.headers)
        if (r.non2xx > 0) throw new Error(`${t.name}: ${r.non2xx} non-2xx responses (auth failed?)`)
        runs.get(t.name).push(r)
        console.error(`${fixtureScript} round ${round + 1} ${t.name}: ${Math.round(r.rps)} rps p99 ${r.p99}`)
      }
    }
  } finally {
    nginx.cleanup()
  }

  return {runs, targets: all}
}

function table({runs, targets}) {
  const nginxRuns = runs.get(targets[1].name)
  const nginxRps = median(nginxRuns.map((r) => r.rps))
  return targets
    .map((t) => {
      const rs = runs.get(t.name)
      const rps = median(rs.map((r) => r.rps))
      const perRound = rs.map((r, i) => (r.rps / nginxRuns[i].rps).toFixed(2)).join(', ')
      return `| ${t.name} | ${Math.round(rps)} | ${(rps / nginxRps).toFixed(2)} | ${perRound} | ${rs.map((r) => r.p99).join(', ')} | ${rs.map((r) => Math.round(r.rps)).join(', ')} |`
    })
    .join('\n')
}

/** Median req/s of target i as a multiple of nginx's (target 1) in the same suite. */
function ratioOf({runs, targets}, i) {
  return median(runs.get(targets[i].name).map((r) => r.rps)) / median(runs.get(targets[1].name).map((r) => r.rps))
}

async function main() {
  const loadBefore = os.loadavg()[0]
  const json = await suite('fixture.mjs', [
    ['candidate-node-http.mjs', 'candidate: node:http + http.request keep-alive agent', true],
    ['candidate-undici.mjs', 'candidate: node:http + undici Pool.stream (pipelining 1)', true],
    ['candidate-http-proxy-3.mjs', 'candidate: node:http + http-proxy-3 (keep-alive agent, xfwd)', true],
    ['candidate-tcp-pipe.mjs', 'yardstick: raw TCP pipe, no HTTP', false],
  ])
  const hello = await suite('fixture-hello.mjs', [
    ['candidate-node-http.mjs', 'candidate: node:http + http.request keep-alive agent', true],
    ['candidate-tcp-pipe.mjs', 'yardstick: raw TCP pipe, no HTTP', false],
  ])
  for (const c of children) c.kill('SIGTERM')
  const fmt = (x) => x.toFixed(2)
  const ratio = (i) => ratioOf(json, i)
  const gw = ratio(2)
  const libs = [3, 4, 5].map((i) => ({name: json.targets[i].name.replace('candidate: ', ''), x: ratio(i)}))
  const bestLib = libs.reduce((a, b) => (b.x > a.x ? b : a))
  const cpu = os.cpus()[0]?.model ?? 'unknown'
  const load = `1-min load average ${loadBefore.toFixed(1)} before the rounds, ${os.loadavg()[0].toFixed(1)} after`
  const figures = {
    gateway_x_nginx: Number(fmt(gw)),
    gateway_x_nginx_hello: Number(fmt(ratioOf(hello, 2))),
    gateway_x_tcp_pipe_hello: Number(fmt(ratioOf(hello, 2) / ratioOf(hello, 4))),
    node_http_x_nginx: Number(fmt(libs[0].x)),
    when: new Date().toISOString(),
  }
  const text = `# Gateway benchmark

Written by \`bench/gateway/run.mjs\` on ${figures.when}.
Machine: ${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version};
${load}.
Load: \`wrk -t1 -c${CONNECTIONS} -d${DURATION}s\` on loopback, GET / of a Node fixture (small JSON body),
${ROUNDS} interleaved rounds per target, median reported. Everything shares the same cores, and the host is shared
with other work, so absolute figures move between rounds; the ratios are what to read. The gateway runs in token
mode with a valid cookie (any refused request would abort the run): every head parsed strictly, the cookie
checked and stripped, the head re-serialized with Host, Origin and forwarding headers rewritten.

| target | req/s (median) | x nginx (medians) | x nginx per round | p99 per round | req/s per round |
|---|---:|---:|---|---|---|
${table(json)}

## The same with a trivial \`hello\` handler

The dev server is a raw TCP server that answers each GET with a canned 5-byte \`hello\` (\`fixture-hello.mjs\`), so
almost all the CPU a proxy uses is its own: the case where proxy cost shows most. Same load, same rounds, same run.

| target | req/s (median) | x nginx (medians) | x nginx per round | p99 per round | req/s per round |
|---|---:|---:|---|---|---|
${table(hello)}

Here the gateway reaches ${fmt(ratioOf(hello, 2))}x nginx and ${fmt(ratioOf(hello, 2) / ratioOf(hello, 4))} of the raw TCP pipe's throughput.

## Why the gateway is hand-written on node:net

Every candidate does the same work per request: a synchronous cookie check, Host rewritten to
\`localhost:PORT\`, the cookie stripped, bodies streamed, keep-alive to the dev server. Each library candidate is
written as its docs recommend for a reverse proxy (\`candidate-*.mjs\`). In this run, as multiples of nginx's
throughput (medians): node:http + http.request ${fmt(libs[0].x)}, undici Pool.stream ${fmt(libs[1].x)},
http-proxy-3 ${fmt(libs[2].x)}; the preview gateway ${fmt(gw)}; a raw TCP pipe with no HTTP at all ${fmt(ratio(6))}.
The best library candidate (${bestLib.name}) reaches ${fmt(bestLib.x)}x nginx, ${bestLib.x >= 0.6 ? 'meeting' : 'short of'} the
0.6x floor; the gateway reaches ${fmt(gw)}x, ${fmt(gw / bestLib.x)}x that candidate. All three libraries sit on node:http's
server, which builds a request object, a header object and a response object per request and then, in the proxy,
a second set for the upstream request; with the dev server on the same two cores, that CPU comes out of the dev
server's share. The gateway parses only the request head, checks auth synchronously, rewrites the few headers it
must and pipes the bytes: it keeps ${fmt(gw / ratio(6))} of the raw pipe's throughput, the ceiling for a Node proxy here.
`
  writeFileSync(path.join(here, 'RESULTS.md'), text)
  writeFileSync(path.join(here, 'results.json'), `${JSON.stringify(figures, null, 2)}\n`)
  process.stdout.write(text)
}

main().catch((error) => {
  for (const c of children) c.kill('SIGTERM')
  console.error(error)
  process.exitCode = 1
})
