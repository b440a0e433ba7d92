// A timeline tracer, loaded with NODE_OPTIONS=--import into the CLI, the supervisor and the dev server (the env is
// inherited), so `preview start` can be profiled without touching src/. Each process appends JSON lines
// {t (epoch ms, fractional), pid, role, ev, ...} to $BENCH_TRACE_FILE: its own start (performance.timeOrigin), the
// child processes it spawns and their exits, sockets it listens on or connects to, state.json renames, lock
// directories (proper-lockfile), audit appends, IPC messages, the first stdout write and process exit.
import cp from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import {syncBuiltinESMExports} from 'node:module'
import path from 'node:path'

const file = process.env.BENCH_TRACE_FILE
if (file) {
  const script = path.basename(process.argv[1] ?? '')
  const role =
    script === 'run.js' ? 'cli' : script === 'supervisor-main.js' ? 'supervisor' : script === 'npm-cli.js' ? 'npm' : script.replace(/\.[cm]?js$/, '') || 'node'
  const appendFileSync = fs.appendFileSync
  const now = () => performance.timeOrigin + performance.now()
  const log = (ev, extra = {}) => {
    try {
      appendFileSync(file, JSON.stringify({ev, pid: process.pid, role, t: now(), ...extra}) + '\n')
    } catch {}
  }

  log('process-start', {t: performance.timeOrigin})
  log('preload')

  const spawn = cp.spawn
  cp.spawn = function (command, args, options) {
    const what = [command, ...(Array.isArray(args) ? args : [])].map(String).map((s) => path.basename(s)).join(' ').slice(0, 80)
    log('spawn', {what})
    const child = spawn.apply(this, arguments)
    child.once('spawn', () => log('spawned', {child: child.pid, what}))
    child.once('exit', (code) => log('child-exit', {child: child.pid, code, what}))
    if (Array.isArray(options?.stdio) && options.stdio.includes('ipc')) child.on('message', (m) => log('ipc-recv', {type: m?.type}))
    return child
  }

  const execFile = cp.execFile
  cp.execFile = function (command, args) {
    const what = [command, ...(Array.isArray(args) ? args : [])].map(String).map((s) => path.basename(s)).join(' ').slice(0, 80)
    log('exec', {what})
    const child = execFile.apply(this, arguments)
    child.once('exit', (code) => log('exec-exit', {code, what}))
    return child
  }

  const listen = net.Server.prototype.listen
  net.Server.prototype.listen = function () {
    this.once('listening', () => log('listening', {port: this.address()?.port}))
    return listen.apply(this, arguments)
  }

  for (const name of ['connect', 'createConnection']) {
    const orig = net[name]
    net[name] = function () {
      const socket = orig.apply(this, arguments)
      const port = typeof arguments[0] === 'object' ? arguments[0].port : arguments[0]
      socket.once('connect', () => log('connect', {port}))
      socket.once('error', (e) => log('connect-error', {code: e.code, port}))
      return socket
    }
  }

  const renameSync = fs.renameSync
  fs.renameSync = function (from, to) {
    const r = renameSync.apply(this, arguments)
    log('rename', {to: path.basename(String(to))})
    return r
  }

  const openSync = fs.openSync
  fs.openSync = function (p, flags) {
    if (String(p).endsWith('.jsonl')) log('audit-open', {file: path.basename(String(p))})
    return openSync.apply(this, arguments)
  }

  // proper-lockfile takes a lock by mkdir <file>.lock and releases it by rmdir (through graceful-fs, which copies
  // fs when it loads: this preload runs first, so it copies these wrappers).
  const mkdir = fs.mkdir
  fs.mkdir = function (p, ...rest) {
    const target = String(p)
    if (!target.endsWith('.lock')) return mkdir.call(this, p, ...rest)
    const cb = rest.pop()
    log('lock-try', {file: path.basename(target)})
    return mkdir.call(this, p, ...rest, (err, ...r) => {
      log(err ? 'lock-busy' : 'lock-held', {file: path.basename(target)})
      cb(err, ...r)
    })
  }

  const rmdir = fs.rmdir
  fs.rmdir = function (p, ...rest) {
    const target = String(p)
    if (!target.endsWith('.lock')) return rmdir.call(this, p, ...rest)
    const cb = rest.pop()
    return rmdir.call(this, p, ...rest, (err, ...r) => {
      log('lock-released', {file: path.basename(target)})
      cb(err, ...r)
    })
  }

  syncBuiltinESMExports()

  if (process.send) {
    const send = process.send.bind(process)
    process.send = (m, ...rest) => {
      log('ipc-send', {type: m?.type})
      return send(m, ...rest)
    }
  }

  // No process.on('message') here: a listener would make Node read the IPC channel early, and the supervisor's spec
  // would be emitted before supervisor-main.js has subscribed.
  const write = process.stdout.write
  let wrote = false
  process.stdout.write = function () {
    if (!wrote) {
      wrote = true
      log('stdout-first-write')
    }

    return write.apply(this, arguments)
  }

  process.once('exit', (code) => log('exit', {code}))
}
