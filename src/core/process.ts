// The one process module: spawning, process groups, process inspection and termination all live here.
// Inspection reads /proc on Linux; elsewhere (macOS) the same answers come from `ps` (liveness, start time, tree)
// and `lsof` (listening ports), both shipped with macOS. PREVIEW_PROCFS=0 selects that path on Linux so the tests
// cover it. Start times are opaque: clock ticks since boot from /proc, epoch seconds from ps; a row's start
// time is only ever compared with one read the same way.
//
// execa, and where it is not used. Importing it costs 15-35 ms over bare node on a quiet machine (a cold
// `node -e "await import('execa')"`: 75-95 ms against ~60 ms for `node -e 0`), ~85 ms of CPU on a loaded one, and
// each execa() spawn a few ms more than child_process.spawn (bench/RESULTS.md, issue 14): on the CLI's path that is
// most of the budget of `preview start` (<= 50 ms over `npm run dev`), and every short command starts with git.
// So nothing imports it statically; `loadExeca()` loads it once, and the long-lived processes call it where the
// import overlaps something slower (the supervisor of a preview whose tunnel is a tool: with the gateway and the
// tunnel drivers while the dev server boots; `preview serve`: at boot). `--provider local` never loads it.
// - run() (git, `tailscale version`/`funnel`, short probes): through execa once this process has loaded it (the
//   supervisor, `preview serve`); the short CLI never loads it, so its git calls (the start path: the sandbox's
//   rev-parse before the dev server can spawn; list/status/stop) use node:child_process. Both give the same
//   result (test/unit/process-run.test.ts runs the same cases through each). run() reads the output itself:
//   execa's own buffering folds it into the error message of a failing command (process-exec.ts says what that cost).
// - Tunnel binaries (tunnels/util.ts openProcessTunnel: cloudflared, bore, ssh, tailscale funnel): through execa
//   (spawnExecaGroup), in the supervisor after the port is captured; the import was paid while the dev server booted.
// - Dev servers and installs (spawnShellGroup/spawnGroup) and the supervisor (spawnNodeDetached): node:child_process.
//   The CLI spawns the dev server and the supervisor on the start path, before anything could load execa; the
//   callers need the pid at once (synchronous), which a lazily loaded execa cannot give; and what execa adds there
//   we would turn off (buffered output: it goes to the log; cleanup on our exit: never for detached children), while
//   its result promise says nothing 'exit' does not (a dev server the supervisor adopted is not its child at all:
//   its exit code comes from the wrapper shell's marker line).
// - ps, lsof and probeSync: synchronous by contract (liveness checks, discovery), so execFileSync/spawnSync.
// - Process groups of pids read from disk (killGroup, after a supervisor died): hand-written below. execa only
//   signals a subprocess it spawned itself, in this process; a group recorded in state.json by a process that is
//   gone has no subprocess object to kill, so it is signalled by -pgid after its start time is checked (pid reuse).
import {execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions} from 'node:child_process'
import {readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {debugFor} from './debug.js'

export {execaLoaded, loadExeca, preloadExeca, run, spawnExecaGroup} from './process-exec.js'
export type {ExecaGroupChild, RunOptions, RunResult} from './process-exec.js'

const debug = debugFor('process')

/** Whether process inspection reads /proc (Linux, unless PREVIEW_PROCFS=0) or asks ps and lsof. */
export const USE_PROCFS = process.platform === 'linux' && process.env.PREVIEW_PROCFS !== '0'

/** How long a process group gets between SIGTERM and SIGKILL. */
export const TERM_GRACE_MS = 3000
/** Upper bound on waiting for a group to vanish after SIGKILL (PID 1 here reaps 1-2 s late). */
export const KILL_WAIT_MS = 5000

export interface ProcStat {
  pid: number
  state: string
  ppid: number
  pgrp: number
  startTime: number
}

/** A process's stat: from /proc/<pid>/stat, or from ps where there is no /proc. */
export function readProcStat(pid: number): ProcStat | null {
  if (!Number.isInteger(pid) || pid <= 0) return null
  if (!USE_PROCFS) return psStats(['-p', String(pid)]).find((s) => s.pid === pid) ?? null
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }

  const close = text.lastIndexOf(')')
  const fields = text.slice(close + 2).split(' ')
  // fields[0] is field 3 (state); starttime is field 22 -> index 19
  return {
    pgrp: Number(fields[2]),
    pid,
    ppid: Number(fields[1]),
    startTime: Number(fields[19]),
    state: fields[0] ?? '?',
  }
}

/** The start time of a pid (clock ticks since boot), to tell a pid from its reuse. */
export function procStartTime(pid: number): number | null {
  return readProcStat(pid)?.startTime ?? null
}

/**
 * Alive means /proc/<pid>/stat exists and is not a zombie (kill(pid, 0) says yes to zombies, and
 * detached supervisors become orphans that a slow init reaps late). With a start time, it must match too.
 */
export function isAlive(pid: number | null | undefined, startTime?: number | null): boolean {
  if (!pid || pid <= 0) return false
  return aliveFromStat(readProcStat(pid), startTime)
}

function aliveFromStat(stat: ProcStat | null, startTime: number | null | undefined): boolean {
  if (!stat || stat.state === 'Z' || stat.state === 'X') return false
  if (startTime !== undefined && startTime !== null && stat.startTime !== startTime) return false
  return true
}

/**
 * isAlive for many processes at once (`list` with a row per preview): each distinct pid is read once from /proc
 * (after one listing of it), and without /proc one `ps -A` answers for all of them instead of a `ps -p` per pid.
 */
export function areAlive(procs: ReadonlyArray<{pid: number | null | undefined; startTime?: number | null}>): boolean[] {
  const pids = new Set<number>()
  for (const p of procs) if (p.pid && p.pid > 0) pids.add(p.pid)
  const stats = new Map<number, ProcStat | null>()
  if (!USE_PROCFS && pids.size > 1) {
    const all = new Map(psStats(['-A']).map((s) => [s.pid, s]))
    for (const pid of pids) stats.set(pid, all.get(pid) ?? null)
  } else {
    // One listing of /proc first: a pid not in it is gone without a failed read (rows of crashed previews).
    // The listing names processes, not threads, as the pids recorded for supervisors are.
    const listed = pids.size > 1 ? new Set(readdirSync('/proc')) : null
    for (const pid of pids) stats.set(pid, listed && !listed.has(String(pid)) ? null : readProcStat(pid))
  }
  return procs.map((p) => (p.pid && p.pid > 0 ? aliveFromStat(stats.get(p.pid) ?? null, p.startTime) : false))
}

const PS_COLUMNS = 'pid=,ppid=,pgid=,stat=,lstart='

/**
 * Runs `ps -o pid=,ppid=,pgid=,stat=,lstart=` (procps and BSD ps both know these keywords). lstart reads like
 * `Tue Dec  1 08:18:12 2026`; it becomes epoch seconds. ps exits 1 when a `-p` pid does not exist: no rows.
 */
function psStats(select: string[]): ProcStat[] {
  let text: string
  try {
    text = execFileSync('ps', [...select, '-o', PS_COLUMNS], {
      encoding: 'utf8',
      env: {...process.env, LC_ALL: 'C'},
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    })
  } catch (error) {
    text = String((error as {stdout?: string}).stdout ?? '')
  }

  const out: ProcStat[] = []
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.+?)\s*$/.exec(line)
    if (!m) continue
    const started = Date.parse(m[5]!)
    out.push({
      pgrp: Number(m[3]),
      pid: Number(m[1]),
      ppid: Number(m[2]),
      startTime: Number.isNaN(started) ? 0 : started / 1000,
      state: m[4]!.slice(0, 1),
    })
  }

  return out
}

function allStats(): ProcStat[] {
  if (!USE_PROCFS) return psStats(['-A'])
  const out: ProcStat[] = []
  for (const name of readdirSync('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid <= 0) continue
    const stat = readProcStat(pid)
    if (stat) out.push(stat)
  }

  return out
}

/** Live (non-zombie) members of a process group. */
export function groupMembers(pgid: number): number[] {
  return allStats()
    .filter((s) => s.pgrp === pgid && s.state !== 'Z' && s.state !== 'X')
    .map((s) => s.pid)
}

/** A pid and all its live descendants (children that left the group included). */
export function processTree(root: number): number[] {
  const stats = allStats().filter((s) => s.state !== 'Z' && s.state !== 'X')
  const children = new Map<number, number[]>()
  for (const s of stats) {
    const list = children.get(s.ppid) ?? []
    list.push(s.pid)
    children.set(s.ppid, list)
  }

  const out: number[] = []
  const queue = [root]
  while (queue.length > 0 && out.length < 10_000) {
    const pid = queue.shift()!
    if (!stats.some((s) => s.pid === pid)) continue
    out.push(pid)
    queue.push(...(children.get(pid) ?? []))
  }

  return out
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>()
  let fds: string[]
  try {
    fds = readdirSync(`/proc/${pid}/fd`)
  } catch {
    return inodes
  }

  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      const m = /^socket:\[(\d+)]$/.exec(target)
      if (m?.[1]) inodes.add(m[1])
    } catch {
      // fd closed while we looked
    }
  }

  return inodes
}

/** TCP ports in LISTEN state owned by the given pids, from `lsof` (where there is no /proc). */
function lsofListeningPorts(pids: number[]): number[] {
  let text: string
  try {
    // -a: all conditions at once; -F pn: machine-readable (p<pid>, n<address:port>); exit 1 when nothing matches.
    text = execFileSync('lsof', ['-nP', '-a', '-p', pids.join(','), '-iTCP', '-sTCP:LISTEN', '-Fpn'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    })
  } catch (error) {
    text = String((error as {stdout?: string}).stdout ?? '')
  }

  const ports = new Set<number>()
  for (const line of text.split('\n')) {
    if (!line.startsWith('n')) continue
    const port = Number(line.slice(line.lastIndexOf(':') + 1))
    if (Number.isInteger(port) && port > 0) ports.add(port)
  }

  return [...ports]
}

/** TCP ports in LISTEN state owned by any of the given pids (from /proc/net/tcp and tcp6, or lsof). */
export function listeningPorts(pids: number[]): number[] {
  if (pids.length === 0) return []
  if (!USE_PROCFS) return lsofListeningPorts(pids)
  const inodes = new Set<string>()
  for (const pid of pids) for (const inode of socketInodes(pid)) inodes.add(inode)
  if (inodes.size === 0) return []
  const ports = new Set<number>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }

    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      if (cols[3] !== '0A') continue
      const inode = cols[9]
      if (!inode || !inodes.has(inode)) continue
      const port = Number.parseInt(cols[1]?.split(':')[1] ?? '', 16)
      if (port > 0) ports.add(port)
    }
  }

  return [...ports]
}

export interface GroupSpawnOptions {
  cwd: string
  env: NodeJS.ProcessEnv
  /** Where stdout/stderr go; 'pipe' by default so the caller can read lines. */
  stdio?: SpawnOptions['stdio']
}

/** Runs a shell command line as the leader of a new process group (so the whole tree can be signalled). */
export function spawnShellGroup(command: string, opts: GroupSpawnOptions): ChildProcess {
  debug('spawn group: sh -c %o in %s', command, opts.cwd)
  return spawn('/bin/sh', ['-c', command], {
    cwd: opts.cwd,
    detached: true,
    env: opts.env,
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  })
}

/** Runs a binary with arguments as the leader of a new process group. */
export function spawnGroup(file: string, args: string[], opts: GroupSpawnOptions): ChildProcess {
  debug('spawn group: %s %o in %s', file, args, opts.cwd)
  return spawn(file, args, {
    cwd: opts.cwd,
    detached: true,
    env: opts.env,
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  })
}

/** Spawns a detached node process with an IPC channel (the supervisor); the caller unrefs it once told ready. */
export function spawnNodeDetached(
  script: string,
  args: string[],
  opts: {cwd: string; env: NodeJS.ProcessEnv; logFd?: number},
): ChildProcess {
  const out = opts.logFd ?? 'ignore'
  return spawn(process.execPath, [script, ...args], {
    cwd: opts.cwd,
    detached: true,
    env: opts.env,
    stdio: ['ignore', out, out, 'ipc'],
  })
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // group already gone
  }
}

/**
 * Polls `done` (bounded by `timeoutMs`) every 5 ms: a process that handles SIGTERM is usually gone within a few,
 * and each check reads a file or two from /proc. Where a check spawns ps, the interval backs off to 25 ms.
 */
async function pollUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  let every = 5
  while (Date.now() < deadline) {
    if (done()) return true
    await sleep(Math.min(every, Math.max(1, deadline - Date.now())))
    if (!USE_PROCFS) every = Math.min(every * 2, 25)
  }

  return done()
}

/** Which of `known` are still the same live processes (one ps call where there is no /proc). */
function stillAlive(known: ProcStat[]): ProcStat[] {
  if (known.length === 0) return []
  const now = USE_PROCFS ? known.map((s) => readProcStat(s.pid)) : psStats(['-p', known.map((s) => s.pid).join(',')])
  return known.filter((k) =>
    now.some((s) => s !== null && s.pid === k.pid && s.startTime === k.startTime && s.state !== 'Z' && s.state !== 'X'),
  )
}

/**
 * Terminates a whole process group: SIGTERM, then SIGKILL after the grace period, then waits (bounded)
 * until no live member is left. `startTime` guards a pid read from disk against reuse.
 */
export async function killGroup(
  pgid: number | null | undefined,
  opts: {graceMs?: number; startTime?: number | null; extraPids?: number[]} = {},
): Promise<void> {
  if (!pgid || pgid <= 1) return
  if (opts.startTime !== undefined && opts.startTime !== null) {
    const stat = readProcStat(pgid)
    // The leader may be gone while its group lives on; only refuse when the pid now belongs to someone else.
    if (stat && stat.startTime !== opts.startTime && stat.pgrp !== pgid) return
  }

  const extraPids = new Set(opts.extraPids ?? [])
  // The group's live members and the extra pids still alive, from one scan (one `ps -A` where there is no /proc).
  const leftovers = () => allStats().filter((s) => (s.pgrp === pgid || extraPids.has(s.pid)) && s.state !== 'Z' && s.state !== 'X')
  let known = leftovers()
  if (known.length === 0) return
  debug('SIGTERM group %d (%d processes)', pgid, known.length)
  // The scan is the slow check: while the processes seen are alive, each round re-reads only those; once they are
  // gone, one more scan makes sure nothing new joined the group meanwhile.
  const gone = (): boolean => {
    known = stillAlive(known)
    if (known.length === 0) known = leftovers()
    return known.length === 0
  }

  signalGroup(pgid, 'SIGTERM')
  for (const pid of extraPids) killPid(pid, 'SIGTERM')
  const grace = opts.graceMs ?? TERM_GRACE_MS
  if (await pollUntil(gone, grace)) return
  const left = leftovers().map((s) => s.pid)
  debug('SIGKILL group %d after %d ms grace: %o', pgid, grace, left)
  signalGroup(pgid, 'SIGKILL')
  for (const pid of left) killPid(pid, 'SIGKILL')
  await pollUntil(gone, KILL_WAIT_MS)
}

export function killPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}

/** Waits (bounded) until a pid is gone or a zombie. */
export async function waitForExit(pid: number, timeoutMs: number, startTime?: number | null): Promise<boolean> {
  return pollUntil(() => !isAlive(pid, startTime), timeoutMs)
}

/**
 * Runs a short probe to completion synchronously and says whether it exited 0 (discovery asks an interpreter
 * whether it can import a module). Output is discarded; a probe that runs past `timeoutMs` counts as a no.
 */
export function probeSync(file: string, args: string[], opts: {cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number}): boolean {
  debug('probe %s %o in %s', file, args, opts.cwd)
  const res = spawnSync(file, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    killSignal: 'SIGKILL',
    stdio: 'ignore',
    timeout: opts.timeoutMs,
  })
  return res.error === undefined && res.status === 0
}
