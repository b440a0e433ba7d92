// One dev server process (spawned in its own process group, or adopted from `preview start`): its output, its
// exit, the wait for its port, its kill; and the dependency install before it. Shared by the detached supervisor
// and every preview of `preview serve`, which differ only in where the lines go and how long they wait.
import type {Writable} from 'node:stream'
import {createInterface} from 'node:readline'
import type {ChildProcess} from 'node:child_process'
import {setTimeout as sleep} from 'node:timers/promises'
import {probeCandidate, tcpProbe} from '../netprobe.js'
import {PortNotDetected, StartFailed, isPreviewError, type PreviewError} from '../errors.js'
import {killGroup, listeningPorts, processTree, spawnShellGroup} from '../process.js'
import {PortSniffer, stripAnsi, type PortCandidate} from '../discovery/port-capture.js'
import {INSTALL_TIMEOUT_MS} from '../sandbox/install.js'
import {EXIT_MARKER, followLines, watchExit, type AdoptedDevServer} from './dev-server.js'

/** How often the sockets of the process tree are read while no output line has named a port that answers. */
export const SOCKET_SCAN_MS = 150

/** Where a process's output goes. */
export interface OutputSink {
  /** Each line as printed (raw: colour codes are only cleaned where an error shows them). */
  onLine: (line: string) => void
  /** The raw bytes are also copied here (the preview's log file), when set. */
  pipe?: Writable | undefined
}

export interface PortWait {
  /** The PORT the dev server was given. */
  port: number
  readyTimeoutMs: number
  /** The last lines, for the error of a dev server that exits or never listens. */
  details: () => string[]
  /** Reading the sockets walks /proc (slow on a busy box): a host with many previews waits for a banner first. */
  socketScanAfterMs?: number
  /** Checked on every round: an error to give up with (the host is shutting down), or null. */
  abort?: () => Error | null
  /** Names the preview in the timeout message (host previews). */
  name?: string
}

/** An exit code as our callers report it: a signal death is 128, a spawn failure 127. */
function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)))
    child.once('error', () => resolve(127))
  })
}

function pipeOutput(child: ChildProcess, sink: OutputSink): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue
    if (sink.pipe) stream.pipe(sink.pipe, {end: false})
    createInterface({crlfDelay: Infinity, input: stream}).on('line', sink.onLine)
  }
}

export class DevProcess {
  /** The group leader (null if the spawn failed before a pid). */
  readonly pid: number | null
  /** Resolves with the exit code (null when unknown: an adopted process that is not our child). */
  readonly exit: Promise<number | null>
  private readonly sniffer = new PortSniffer()
  /** The latest address the output named (push() results; LAN fallbacks are only taken at the end). */
  private lineCandidate: PortCandidate | null = null
  private wakePortWait: (() => void) | null = null
  /** Stops reading an adopted process's lines from the log file (after its port wait). */
  private unfollow: (() => void) | null = null

  private constructor(pid: number | null, exit: Promise<number | null>) {
    this.pid = pid
    this.exit = exit
  }

  /** Runs `command` in a shell in its own process group. */
  static spawn(command: string, opts: {cwd: string; env: Record<string, string>}, sink: OutputSink): DevProcess {
    const child = spawnShellGroup(command, opts)
    const proc = new DevProcess(child.pid ?? null, exitOf(child))
    pipeOutput(child, {...sink, onLine: (line) => proc.onLine(line, sink.onLine)})
    return proc
  }

  /**
   * The dev server `preview start` already started, writing into `logPath` from `adopt.logOffset`: its lines
   * are read there as they are written (skipping the supervisor's own), its exit code comes as the line its
   * wrapper shell writes, and /proc (or ps) tells when it is gone in any case.
   */
  static adopt(adopt: AdoptedDevServer, logPath: string, sink: OutputSink): DevProcess {
    let exitedWith: (code: number) => void = () => {}
    const reported = new Promise<number>((resolve) => (exitedWith = resolve))
    const proc = new DevProcess(adopt.pid, Promise.race([reported, watchExit(adopt.pid, adopt.startTime)]))
    proc.unfollow = followLines(logPath, adopt.logOffset, (line) => {
      const marker = EXIT_MARKER.exec(line)
      if (marker) exitedWith(Number(marker[1]))
      else if (!line.startsWith('[preview] ')) proc.onLine(line, sink.onLine)
    })
    return proc
  }

  private onLine(line: string, forward: (line: string) => void): void {
    forward(line)
    const candidate = this.sniffer.push(line)
    if (candidate) {
      this.lineCandidate = candidate
      this.wakePortWait?.() // probe now rather than at the next tick
    } else if (this.lineCandidate && this.sniffer.rejected.has(this.lineCandidate.port)) this.lineCandidate = this.sniffer.best()
  }

  /** Port from the output lines, else from the sockets the process tree listens on; confirmed by TCP connect. */
  async waitForPort(wait: PortWait): Promise<number> {
    try {
      return await this.pollForPort(wait)
    } finally {
      this.unfollow?.()
      this.unfollow = null
    }
  }

  private async pollForPort(wait: PortWait): Promise<number> {
    const spawnedAt = Date.now()
    const deadline = spawnedAt + wait.readyTimeoutMs
    let exited: number | null | undefined
    void this.exit.then((code) => {
      exited = code
    })
    let lastSocketScan = 0
    while (Date.now() < deadline) {
      const abort = wait.abort?.()
      if (abort) throw abort
      if (exited !== undefined) {
        await sleep(50) // let the last output lines arrive
        throw new StartFailed(
          `The dev server exited${exited === null ? '' : ` (code ${exited})`} before it was ready.`,
          wait.details(),
          'Run the command by hand in the worktree to see why, or fix it and start again.',
        )
      }

      const candidate = this.lineCandidate
      if (candidate && (await probeCandidate(candidate))) return candidate.port
      const now = Date.now()
      if (this.pid && now - spawnedAt >= (wait.socketScanAfterMs ?? 0) && now - lastSocketScan >= SOCKET_SCAN_MS) {
        lastSocketScan = now
        const socketPorts = listeningPorts(processTree(this.pid)).filter((p) => !this.sniffer.rejected.has(p))
        if (socketPorts.includes(wait.port) && (await tcpProbe(wait.port))) return wait.port
        // Without a banner, a single listening socket is the server (debugger ports are never the only one).
        if (!candidate && socketPorts.length === 1 && socketPorts[0] !== 9229 && (await tcpProbe(socketPorts[0]!))) return socketPorts[0]!
      }

      await Promise.race([sleep(40), this.exit, new Promise<void>((resolve) => (this.wakePortWait = resolve))])
      this.wakePortWait = null
    }

    // Last resort: an address only a LAN line named.
    const fallback = this.sniffer.best()
    if (fallback && (await probeCandidate(fallback))) return fallback.port
    throw new PortNotDetected(
      `The dev server${wait.name ? ` of ${wait.name}` : ''} did not become ready within ${Math.round(wait.readyTimeoutMs / 1000)}s (no port in its output, no listening socket).`,
      wait.details(),
    )
  }

  /** SIGTERM to the group (and the tree: children that left it), SIGKILL after the grace; waits until all are gone. */
  async kill(graceMs?: number): Promise<void> {
    this.unfollow?.()
    this.unfollow = null
    if (this.pid) await killGroup(this.pid, {extraPids: processTree(this.pid), ...(graceMs === undefined ? {} : {graceMs})})
  }
}

export interface InstallOptions extends OutputSink {
  cwd: string
  env: NodeJS.ProcessEnv
  details: () => string[]
  /** What to do about a failed install, for the error (the CLI and the host offer different ways out). */
  failHint: string
  timeoutHint: string
  /** The install's group leader while it runs (so a stop meanwhile can kill it), then null. */
  track: (pid: number | null) => void
}

/** The clean install of a fresh worktree (CI=true, bounded by INSTALL_TIMEOUT_MS); a failure throws with its last lines. */
export async function runInstall(command: string, opts: InstallOptions): Promise<void> {
  const child = spawnShellGroup(command, {cwd: opts.cwd, env: {...opts.env, CI: 'true'}})
  opts.track(child.pid ?? null)
  pipeOutput(child, opts)
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), INSTALL_TIMEOUT_MS)
  })
  const code = await Promise.race([exitOf(child), timedOut])
  clearTimeout(timer)
  if (code === 'timeout') {
    await killGroup(child.pid, {extraPids: child.pid ? processTree(child.pid) : []})
    throw new StartFailed(`${command} did not finish within ${INSTALL_TIMEOUT_MS / 60_000} minutes.`, opts.details(), opts.timeoutHint)
  }

  if (code !== 0) throw new StartFailed(`${command} failed (exit ${code}).`, opts.details(), opts.failHint)
  opts.track(null)
}

/** Lines of the dev server's output kept for errors. */
export const LOG_TAIL = 20

/** The dev server's last lines, kept for the errors of a start that fails (they are the first thing to read). */
export class LogTail {
  private lines: string[] = []

  /** Raw lines in: they are only cleaned if an error shows them. */
  push(line: string): void {
    this.lines.push(line)
    if (this.lines.length > LOG_TAIL) this.lines.shift()
  }

  clear(): void {
    this.lines = []
  }

  /** The last lines, without colour codes. */
  clean(): string[] {
    return this.lines.map((l) => stripAnsi(l))
  }

  /** The lines for an error's details (saying so when there are none). */
  details(): string[] {
    const tail = this.clean()
    return tail.length > 0 ? [`last ${tail.length} lines of the dev server's log:`, ...tail] : ['(the dev server printed nothing)']
  }

  /** `error` as a PreviewError that shows the last lines (unless it already carries details of its own). */
  attachTo(error: unknown): PreviewError {
    const tail = this.clean()
    if (isPreviewError(error)) {
      if (error.details.length === 0 && tail.length > 0) error.details.push(`last ${tail.length} lines of the dev server's log:`, ...tail)
      return error
    }

    return new StartFailed(
      `Start failed: ${(error as Error).message}`,
      tail.length > 0 ? [`last ${tail.length} lines of the dev server's log:`, ...tail] : [],
    )
  }
}
