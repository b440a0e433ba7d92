// Shared helpers of the bench/ scripts: machine facts, statistics, temp repos, running the built CLI, /proc checks,
// and writing one section of bench/RESULTS.md (each script owns its section, so they can be rerun one at a time).
import {execFileSync, spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT = path.resolve(BENCH, '..')
export const BIN = path.join(ROOT, 'bin', 'run.js')
export const RESULTS = path.join(BENCH, 'RESULTS.md')

/** Environment every CLI run gets: no TTY tricks, no clipboard, no public-URL probe (local provider only). */
export const CLI_ENV = {CI: 'true', NO_COLOR: '1', PREVIEW_PROBE_TIMEOUT_MS: '0'}

/** Fails early with a useful message when dist/ is missing (the benches measure the built CLI). */
export function requireBuild() {
  if (!existsSync(path.join(ROOT, 'dist', 'commands', 'start.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first.')
  }
}

/** `--name value` (or `--flag` for booleans) from argv, with a default. */
export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`)
  if (i === -1) return dflt
  if (typeof dflt === 'boolean') return true
  const v = process.argv[i + 1]
  return typeof dflt === 'number' ? Number(v) : v
}

/** nproc, CPU model, RAM, kernel, node version: written next to every figure. */
export function machine() {
  const cpus = os.cpus()
  let model = cpus[0]?.model?.trim() ?? 'unknown'
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'))
    if (line) model = line.split(':')[1].trim()
  } catch {}
  let nproc = cpus.length
  try {
    nproc = Number(execFileSync('nproc', {encoding: 'utf8'}).trim())
  } catch {}
  return {
    cpu: model,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    nproc,
    ram: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
  }
}

export function machineLine() {
  const m = machine()
  // The load average says how shared the machine was (these hosts run other work): figures scale with it.
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' / ')
  return `nproc ${m.nproc}, ${m.cpu}, ${m.ram} RAM, ${m.kernel}, Node ${m.node}; load average (1/5/15 min) at the end: ${load}`
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return NaN
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const rank = Math.max(1, Math.ceil((p / 100) * s.length))
  return s[Math.min(s.length, rank) - 1]
}

export const ms = (x, digits = 0) => `${Number.isFinite(x) ? x.toFixed(digits) : '?'} ms`
export const sleep = (t) => new Promise((r) => setTimeout(r, t))

/** Runs git with a fixed identity so commits work on a fresh machine. */
export function git(cwd, ...args) {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {...process.env, GIT_AUTHOR_EMAIL: 'b@example.com', GIT_AUTHOR_NAME: 'bench', GIT_COMMITTER_EMAIL: 'b@example.com', GIT_COMMITTER_NAME: 'bench'},
  }).trim()
}

/** The plain Node dev server the benches start (same shape as test/helpers/repo.ts SERVER_JS). */
export const SERVER_JS = `const http = require('http')
const port = Number(process.env.PORT || 3000)
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain')
  res.end('hello from the app host=' + req.headers.host + '\\n')
})
server.listen(port, process.env.HOST || '127.0.0.1', () => console.log('Server listening on http://localhost:' + port))
`

/** A committed temp repo with package.json (dev: node server.js) and server.js, plus any extra files. */
export function makeRepo(prefix = 'bench-', files = {}) {
  const base = path.join(os.tmpdir(), 'preview-bench')
  mkdirSync(base, {recursive: true})
  const dir = realpathSync(mkdtempSync(path.join(base, prefix)))
  const all = {
    'package.json': JSON.stringify({name: 'app', private: true, scripts: {dev: 'node server.js'}}, null, 2),
    'server.js': SERVER_JS,
    ...files,
  }
  for (const [f, c] of Object.entries(all)) {
    mkdirSync(path.dirname(path.join(dir, f)), {recursive: true})
    writeFileSync(path.join(dir, f), c)
  }

  git(dir, 'init', '-q', '-b', 'main')
  git(dir, 'add', '-A')
  git(dir, 'commit', '-q', '-m', 'init')
  return {cleanup: () => rmSync(dir, {force: true, recursive: true}), dir}
}

/**
 * Runs `node bin/run.js ...args` as a process. Resolves with code, stdout, stderr, the wall time to exit and
 * the time at which stdout first held a complete JSON document (`jsonAtMs`, for `--json` runs).
 */
export function runCli(args, {cwd, env = {}, timeoutMs = 60_000} = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [BIN, ...args], {cwd, env: {...process.env, ...CLI_ENV, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    let jsonAtMs = null
    child.stdout.on('data', (d) => {
      stdout += d
      if (jsonAtMs === null) {
        try {
          JSON.parse(stdout)
          jsonAtMs = performance.now() - t0
        } catch {}
      }
    })
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`preview ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, jsonAtMs, stderr, stdout, wallMs: performance.now() - t0})
    })
  })
}

/** Parses a CLI result's stdout as JSON, failing with the whole output when it is not. */
export function json(result) {
  try {
    return JSON.parse(result.stdout)
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`)
  }
}

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  const s = net.createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  const {port} = s.address()
  await new Promise((r) => s.close(r))
  return port
}

/** One TCP connect attempt. */
export function tcpOpen(port, host = '127.0.0.1') {
  return new Promise((resolve) => {
    const s = net.connect({host, port})
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** Reads /proc/<pid>/stat state; null when the pid is gone. */
export function procState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  } catch {
    return null
  }
}

/** Alive as ARCHITECTURE.md defines it: /proc/<pid>/stat exists and is not a zombie. */
export function alive(pid) {
  const s = procState(pid)
  return s !== null && s !== 'Z' && s !== 'X'
}

/** Live pids whose cwd is `dir` or inside it, with their command lines. */
export function pidsInside(dir) {
  const out = []
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`)
      if ((cwd === dir || cwd.startsWith(dir + '/')) && alive(pid)) {
        out.push({cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim(), pid})
      }
    } catch {
      // gone, or not ours to read
    }
  }

  return out
}

/** VmRSS and VmHWM of a pid in MiB (from /proc/<pid>/status). */
export function rssMiB(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return {hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024}
}

/** Polls a condition (bounded in time) every `every` ms. */
export async function waitFor(cond, timeoutMs = 10_000, every = 50) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await cond()) return true
    await sleep(every)
  }

  return cond()
}

/** True when a binary is on PATH. */
export function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], {stdio: 'ignore'}).status === 0
}

/** Runs hyperfine with JSON export and returns its `results` array. */
export function hyperfine(commands, {warmup = 3, runs = 20, cwd = ROOT, env = {}} = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-hf-'))
  const out = path.join(dir, 'hf.json')
  const res = spawnSync('hyperfine', ['-N', '--warmup', String(warmup), '--runs', String(runs), '--export-json', out, ...commands], {
    cwd,
    encoding: 'utf8',
    env: {...process.env, ...CLI_ENV, ...env},
  })
  if (res.status !== 0) throw new Error(`hyperfine failed:\n${res.stdout}\n${res.stderr}`)
  const results = JSON.parse(readFileSync(out, 'utf8')).results
  rmSync(dir, {force: true, recursive: true})
  return results.map((r) => ({
    command: r.command,
    maxMs: r.max * 1000,
    meanMs: r.mean * 1000,
    medianMs: r.median * 1000,
    minMs: r.min * 1000,
    stddevMs: r.stddev * 1000,
    timesMs: r.times.map((t) => t * 1000),
    // CPU time is steadier than wall time on a shared machine: it is what the process itself cost.
    userMs: r.user * 1000,
    systemMs: r.system * 1000,
  }))
}

const HEADER = `# Benchmarks

Each section below is written by one script in \`bench/\` (rerun it and only its section changes), with the machine
and date it ran on; the summary just below is rebuilt from \`bench/results.json\` on every write. Run everything with
\`npm run build && node bench/all.mjs\`. The machines are shared and noisy: read the figures as of their run, not as
constants. Two benchmarks live in their own folders with their own results: the gateway against nginx in
[bench/gateway/](gateway/RESULTS.md) (section 2 cites it) and audit verification and metrics in
[bench/audit/](audit/RESULTS.md) (from the audit branch).
`
const SUMMARY = path.join(BENCH, 'results.json')

function summaryTable() {
  const all = existsSync(SUMMARY) ? JSON.parse(readFileSync(SUMMARY, 'utf8')) : {}
  const rows = []
  for (const [name, entry] of Object.entries(all)) {
    for (const f of entry.figures) {
      rows.push([f.figure, f.value, f.target ?? '-', f.met === undefined ? '-' : verdict(f.met), `\`${entry.command}\` (${entry.date.slice(0, 10)}, [section](#${name}))`])
    }
  }

  return `<!-- bench:summary -->\n## Summary\n\n${table(['figure', 'measured', 'target', 'verdict', 'command (run date)'], rows)}\n<!-- /bench:summary -->`
}

function replaceSection(text, name, section) {
  const start = `<!-- bench:${name} -->`
  const end = `<!-- /bench:${name} -->`
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  return i !== -1 && j > i ? text.slice(0, i) + section + text.slice(j + end.length) : `${text.trimEnd()}\n\n${section}\n`
}

/**
 * Replaces (or appends) the section \`name\` of bench/RESULTS.md with \`body\`, stamped with the command, date and
 * machine, so every figure sits next to the command that produced it. \`figures\` ({figure, value, target?, met?})
 * go to bench/results.json and the summary table at the top.
 */
export function writeSection(name, title, command, body, figures = []) {
  const date = new Date().toISOString()
  const all = existsSync(SUMMARY) ? JSON.parse(readFileSync(SUMMARY, 'utf8')) : {}
  all[name] = {command, date, figures, machine: machineLine()}
  const order = ['overhead', 'gateway', 'hmr', 'list', 'memory', 'cold-start', 'stop', 'soak', 'edge', 'serve', 'execa']
  const sorted = Object.fromEntries(Object.entries(all).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)))
  writeFileSync(SUMMARY, JSON.stringify(sorted, null, 2) + '\n')
  let text = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : HEADER
  text = replaceSection(text, 'summary', summaryTable())
  // An anchor per section, so the summary can link to it.
  const section = `<!-- bench:${name} -->\n<a id="${name}"></a>\n\n## ${title}\n\nCommand: \`${command}\`  \nRun: ${date} on ${machineLine()}\n\n${body.trim()}\n<!-- /bench:${name} -->`
  text = replaceSection(text, name, section)
  // Sections in benchmark order, whatever order the scripts ran in.
  const parts = order.map((n) => {
    const m = new RegExp(`<!-- bench:${n} -->[\\s\\S]*?<!-- /bench:${n} -->`).exec(text)
    return m ? m[0] : null
  })
  const head = text.slice(0, text.indexOf('<!-- bench:'))
  const summary = /<!-- bench:summary -->[\s\S]*?<!-- \/bench:summary -->/.exec(text)[0]
  writeFileSync(RESULTS, `${head.trimEnd()}\n\n${summary}\n\n${parts.filter(Boolean).join('\n\n')}\n`)
}

/** A markdown table from a header row and rows. */
export function table(head, rows) {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

/** Target verdict text. */
export const verdict = (ok) => (ok ? '**met**' : '**not met**')
