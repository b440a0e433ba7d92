// One preview of `preview serve`, supervised in-process: its worktree, install, dev server, port capture, crash
// restarts, idle stop and wake, and auto-pull. Built from the same lower-level modules as the detached supervisor
// (sandbox, install, discovery, port capture, process groups), without its state.json row, tunnel or IPC, so one
// host process can run many of them.
import {freePort, probeCandidate, tcpProbe} from '../netprobe.js'
import {createWriteStream, existsSync, mkdirSync, type WriteStream} from 'node:fs'
import path from 'node:path'
import {createInterface} from 'node:readline'
import {setTimeout as sleep} from 'node:timers/promises'
import {PortNotDetected, PreviewError, StartFailed} from '../errors.js'
import {killGroup, listeningPorts, processTree, run, spawnShellGroup} from '../process.js'
import {devServerEnv} from '../supervisor/dev-server.js'
import {chooseCommand, discoverCommands} from '../discovery/commands.js'
import {installCommand, INSTALL_TIMEOUT_MS} from '../sandbox/install.js'
import type {SddPaths} from '../records/paths.js'
import {PortSniffer, stripAnsi} from '../discovery/port-capture.js'
import {createWorktree, headCommit, pullBranch} from '../sandbox/resolve.js'
import type {RequestRecord} from '../gateway/types.js'

/** Lines of output and requests kept per preview (the status JSON shows them). */
export const RECENT_LINES = 100
export const RECENT_REQUESTS = 100
/** Bound on fetch + reset before a stale branch is served. */
export const AUTO_PULL_TIMEOUT_MS = 30_000
export const RESTART_BACKOFF_MS = 500
const SOCKET_SCAN_MS = 150
/** Before this, only the output is read for the port (a banner comes first for nearly every dev server). */
const SOCKET_SCAN_AFTER_MS = 1000

export type RunnerState = 'stopped' | 'starting' | 'running' | 'idle' | 'crashed' | 'stopping'

/** Legal moves of a runner's state (STYLE 17: one field, one function). */
const TRANSITIONS: Record<RunnerState, readonly RunnerState[]> = {
  crashed: ['starting', 'stopping'],
  idle: ['starting', 'stopping'],
  running: ['idle', 'starting', 'crashed', 'stopping'],
  starting: ['running', 'crashed', 'stopping'],
  stopped: ['starting', 'stopping'],
  stopping: ['stopped'],
}

export interface RunnerSpec {
  /** The host name label (unsigned), e.g. `app--feature-x`. */
  name: string
  label: string | null
  /** The git ref served: a branch name, a tag or a commit. */
  ref: string
  /** True when ref is a local branch (auto-pull resets it to its tip). */
  branch: boolean
  /** The repository's top level and its .sdd paths. */
  root: string
  paths: SddPaths
  /** preview.yaml `command` and `install`. */
  configCommand?: string | undefined
  configInstall?: string | undefined
  env: NodeJS.ProcessEnv
  readyTimeoutMs: number
  maxRestarts: number
  /** A branch not requested for this long is pulled before the next request is served (null: never). */
  autoPullMs: number | null
  /**
   * The PORT to give the dev server, picked before it starts: the gateway writes a request's upstream Host as
   * `localhost:<route.targetPort>` when the head arrives, before an on-demand start, so the route must know it.
   * Kept for restarts and wakes, so the route stays right.
   */
  port?: number | undefined
}

/** A preview's line of the host status (`sub_servers` of /-/preview.json). */
export interface SubServer {
  name: string
  status: RunnerState
  ref: string
  label: string | null
  commit: string | null
  port: number | null
  pid: number | null
  uptime_seconds: number | null
  restart_attempts: number
  command: string | null
  last_request_seconds_ago: number | null
  seconds_until_idle: number | null
  recent_logs: string[]
  recent_requests: RequestRecord[]
}

export {freePort} from '../netprobe.js'

export type RunnerEvent = 'start' | 'wake' | 'restart' | 'pull' | 'idle' | 'crash'

export class PreviewRunner {
  private _state: RunnerState = 'stopped'
  private queue: Promise<unknown> = Promise.resolve()
  private pid: number | null = null
  private port: number | null = null
  private commit: string | null = null
  private command: string | null = null
  private worktree: string | null = null
  private startedAt: number | null = null
  private lastRequest: number | null = null
  private lastActivity = Date.now()
  private pullDue = false
  private restarts = 0
  /** Set while we kill the dev server ourselves, so its exit is not taken for a crash. */
  private expectedExit = false
  private lines: string[] = []
  private requests: RequestRecord[] = []
  private log: WriteStream | null = null
  private error: string | null = null
  private wakePortWait: (() => void) | null = null
  private stoppedForGood = false

  constructor(
    readonly spec: RunnerSpec,
    private readonly onEvent: (event: RunnerEvent, runner: PreviewRunner, detail?: string) => void = () => {},
  ) {}

  get state(): RunnerState {
    return this._state
  }

  /** The dev server's port once it is up (the route's targetPort). */
  get targetPort(): number | null {
    return this.port
  }

  /** The state now (a method, so TypeScript does not narrow it across awaits). */
  private is(state: RunnerState): boolean {
    return this._state === state
  }

  private transition(to: RunnerState): void {
    if (!TRANSITIONS[this._state].includes(to)) throw new Error(`preview ${this.spec.name}: illegal transition ${this._state} -> ${to}`)
    this._state = to
  }

  /** Serializes start, pull, restart and stop: concurrent requests share one start. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => {})
    return next
  }

  /** Every request (the route's onActivity): idle tracking, and marks a long-unrequested branch for a pull. */
  touch(): void {
    const now = Date.now()
    if (this.spec.autoPullMs !== null && this.spec.branch && this.lastRequest !== null && now - this.lastRequest >= this.spec.autoPullMs)
      this.pullDue = true
    this.lastRequest = now
    this.lastActivity = now
  }

  /** An upgraded socket with traffic, or one still open at the idle check: keeps the preview awake. */
  keepAwake(): void {
    this.lastActivity = Date.now()
  }

  recordRequest(r: RequestRecord): void {
    this.requests.push(r)
    if (this.requests.length > RECENT_REQUESTS) this.requests.shift()
  }

  /** Awaited before a connection's first upstream connect: pulls a stale branch, starts or wakes the dev server. */
  ensure(): Promise<void> {
    if (this._state === 'running' && !this.pullDue) return Promise.resolve()
    return this.serial(async () => {
      if (this.stoppedForGood) throw new PreviewError('HOST_STOPPING', 'The host is shutting down.')
      if (this.pullDue) {
        this.pullDue = false
        await this.pull()
      }

      if (this._state === 'running') return
      const waking = this._state === 'idle'
      await this.startDevServer(waking ? 'wake' : 'start')
    })
  }

  /** Scale to zero: the dev server stops after the TTL without a request; the route stays and wakes it. */
  async checkIdle(ttlMs: number, now = Date.now()): Promise<void> {
    if (this._state !== 'running' || now - this.lastActivity < ttlMs) return
    await this.serial(async () => {
      if (this._state !== 'running' || Date.now() - this.lastActivity < ttlMs) return
      this.event(`idle for ${Math.round(ttlMs / 1000)}s: stopping the dev server until the next request`)
      await this.killDevServer()
      this.transition('idle')
      this.onEvent('idle', this)
    })
  }

  /** Stops the dev server for good (host shutdown, repository removed). */
  stop(): Promise<void> {
    this.stoppedForGood = true
    const kill = async () => {
      if (this._state === 'stopped') return
      if (this._state !== 'stopping') this.transition('stopping')
      await this.killDevServer()
      this._state = 'stopped'
      this.log?.end()
      this.log = null
    }

    // Kill at once (a start in progress is killed too), then again in the queue once the start has given up.
    return Promise.all([kill(), this.serial(kill)]).then(() => {})
  }

  /** Where its worktree is (made on the first start). */
  get worktreeDir(): string {
    return path.join(this.spec.paths.worktrees, `host-${this.spec.name}`)
  }

  /** Why the last start failed (the host's error page shows it). */
  get lastError(): string | null {
    return this.error
  }

  status(now = Date.now(), idleTtlMs: number | null = null): SubServer {
    const since = this.lastRequest === null ? null : Math.floor((now - this.lastRequest) / 1000)
    return {
      command: this.command,
      commit: this.commit,
      label: this.spec.label,
      last_request_seconds_ago: since,
      name: this.spec.name,
      pid: this._state === 'running' || this._state === 'starting' ? this.pid : null,
      port: this._state === 'running' ? this.port : null,
      recent_logs: [...this.lines],
      recent_requests: [...this.requests],
      ref: this.spec.ref,
      restart_attempts: this.restarts,
      seconds_until_idle:
        idleTtlMs === null || this._state !== 'running' ? null : Math.max(0, Math.ceil((idleTtlMs - (now - this.lastActivity)) / 1000)),
      status: this._state === 'stopped' || this._state === 'stopping' ? 'idle' : this._state,
      uptime_seconds: this._state === 'running' && this.startedAt !== null ? Math.floor((now - this.startedAt) / 1000) : null,
    }
  }

  /** A line of the host's own in this preview's log. */
  event(text: string): void {
    this.line(`[preview] ${new Date().toISOString()} ${text}`)
  }

  private line(text: string): void {
    this.lines.push(text)
    if (this.lines.length > RECENT_LINES) this.lines.shift()
    this.log?.write(`${text}\n`)
  }

  private openLog(): void {
    if (this.log) return
    mkdirSync(this.spec.paths.logs, {recursive: true})
    this.log = createWriteStream(path.join(this.spec.paths.logs, `host-${this.spec.name}.log`), {flags: 'a', mode: 0o600})
    this.log.on('error', () => {})
  }

  /** The worktree for this ref: `.sdd/worktrees/host-<name>`, made once and reused (reset to the ref on first start). */
  private async prepareWorktree(): Promise<string> {
    const sessionId = `host-${this.spec.name}`
    const dir = this.worktreeDir
    if (existsSync(path.join(dir, '.git'))) {
      if (this.worktree === null) {
        // A worktree left by an earlier run of the host: bring it to what the ref names now.
        const reset = await run('git', ['reset', '--hard', '--quiet', `${this.spec.ref}^{commit}`], {cwd: dir, timeoutMs: 30_000})
        if (reset.exitCode !== 0)
          throw new PreviewError('WORKTREE_FAILED', `git reset in ${dir} failed: ${reset.stderr.trim()}`, {
            hint: `Remove ${dir} (git worktree remove --force) and request the preview again.`,
          })
      }
    } else {
      const refArg = this.spec.branch ? `refs/heads/${this.spec.ref}` : this.spec.ref
      await createWorktree(this.spec.root, this.spec.paths, refArg, sessionId)
    }

    this.worktree = dir
    this.commit = await headCommit(dir)
    return dir
  }

  /** Auto-pull: fetch and reset the branch (30 s bound); a running dev server restarts when the commit moved. */
  private async pull(): Promise<void> {
    if (this.worktree === null || !this.spec.branch) return
    const before = this.commit
    try {
      this.commit = await pullBranch(this.spec.root, this.worktree, this.spec.ref, AUTO_PULL_TIMEOUT_MS)
    } catch (error) {
      this.event(`auto-pull failed: ${(error as Error).message}`)
      return
    }

    if (this.commit === before) return
    this.event(`auto-pull: ${this.spec.ref} moved ${before?.slice(0, 8)} -> ${this.commit?.slice(0, 8)}`)
    this.onEvent('pull', this)
    if (this._state === 'running') {
      await this.killDevServer()
      this.transition('starting')
      try {
        await this.spawnAndWait()
      } catch (error) {
        await this.killDevServer()
        this.error = (error as Error).message
        this.event(`start after auto-pull failed: ${this.error}`)
        if (this.is('starting')) this.transition('crashed')
        throw error
      }

      if (this.is('starting')) this.transition('running')
    }
  }

  private async startDevServer(kind: 'start' | 'wake'): Promise<void> {
    this.transition('starting')
    this.openLog()
    this.error = null
    try {
      if (this.worktree === null || !existsSync(this.worktree)) {
        this.event(`preparing the worktree of ${this.spec.ref}`)
        await this.prepareWorktree()
      }

      const install = installCommand(this.worktree!, {configured: this.spec.configInstall})
      if (install) await this.runInstall(install)
      if (this.command === null) {
        const discovery = discoverCommands({
          configCommand: this.spec.configCommand,
          configFile: this.spec.paths.config,
          cwd: this.worktree!,
        })
        this.command = chooseCommand(discovery).command
      }

      await this.spawnAndWait()
    } catch (error) {
      await this.killDevServer()
      this.error = (error as Error).message
      this.event(`start failed: ${this.error}`)
      if (this.is('starting')) this.transition('crashed')
      throw error
    }

    if (!this.is('starting')) return // stopped meanwhile
    this.transition('running')
    this.lastActivity = Date.now()
    this.onEvent(kind, this)
  }

  private async runInstall(command: string): Promise<void> {
    this.event(`installing dependencies: ${command}`)
    const child = spawnShellGroup(command, {cwd: this.worktree!, env: {...this.spec.env, CI: 'true'}})
    this.pid = child.pid ?? null
    this.pipe(child.stdout, child.stderr)
    const exit = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)))
      child.once('error', () => resolve(127))
    })
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([
      exit,
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), INSTALL_TIMEOUT_MS))),
    ])
    clearTimeout(timer)
    if (code !== 0) {
      await this.killDevServer()
      throw new StartFailed(
        code === 'timeout' ? `${command} did not finish in time.` : `${command} failed (exit ${code}).`,
        this.tail(),
        'Fix the install, or set `install:` in .sdd/preview.yaml.',
      )
    }

    this.pid = null
  }

  private pipe(...streams: (NodeJS.ReadableStream | null)[]): PortSniffer {
    const sniffer = new PortSniffer()
    for (const stream of streams) {
      if (!stream) continue
      createInterface({crlfDelay: Infinity, input: stream}).on('line', (raw) => {
        this.line(raw)
        if (sniffer.push(raw)) this.wakePortWait?.()
      })
    }

    return sniffer
  }

  private tail(): string[] {
    const last = this.lines.slice(-20).map((l) => stripAnsi(l))
    return last.length > 0 ? ['last lines of the log:', ...last] : []
  }

  /** Spawns the dev command with PORT in its own process group and waits (ready_timeout) for its port. */
  private async spawnAndWait(): Promise<void> {
    // The port picked in advance, unless something else took it meanwhile.
    const wanted = this.spec.port !== undefined && !(await tcpProbe(this.spec.port)) ? this.spec.port : await freePort()
    this.spec.port = wanted
    this.event(`starting ${this.command} (PORT=${wanted})`)
    const child = spawnShellGroup(this.command!, {cwd: this.worktree!, env: devServerEnv(this.spec.env as Record<string, string>, wanted)})
    const pid = child.pid ?? null
    this.pid = pid
    this.expectedExit = false
    const sniffer = this.pipe(child.stdout, child.stderr)
    let exited: number | null | undefined
    const exit = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)))
      child.once('error', () => resolve(127))
    })
    void exit.then((code) => {
      exited = code
      if (pid !== null && this.pid === pid)
        this.onExit(pid, code).catch((error: unknown) => this.event(`after the exit: ${(error as Error).message}`))
    })
    const spawnedAt = Date.now()
    const deadline = spawnedAt + this.spec.readyTimeoutMs
    let lastScan = 0
    while (Date.now() < deadline) {
      if (this.stoppedForGood) throw new PreviewError('HOST_STOPPING', 'The host is shutting down.')
      if (exited !== undefined) {
        await sleep(50)
        throw new StartFailed(
          `The dev server exited${exited === null ? '' : ` (code ${exited})`} before it was ready.`,
          this.tail(),
          'Run the command by hand in the worktree to see why.',
        )
      }

      const candidate = sniffer.best()
      if (candidate && (await probeCandidate(candidate))) return this.ready(candidate.port)
      // The socket scan reads all of /proc (slow on a busy box): only once the output has named nothing for a while.
      if (pid && Date.now() - spawnedAt >= SOCKET_SCAN_AFTER_MS && Date.now() - lastScan >= SOCKET_SCAN_MS) {
        lastScan = Date.now()
        const ports = listeningPorts(processTree(pid)).filter((p) => !sniffer.rejected.has(p))
        if (ports.includes(wanted) && (await tcpProbe(wanted))) return this.ready(wanted)
        if (!candidate && ports.length === 1 && ports[0] !== 9229 && (await tcpProbe(ports[0]!))) return this.ready(ports[0]!)
      }

      await Promise.race([sleep(40), exit, new Promise<void>((resolve) => (this.wakePortWait = resolve))])
      this.wakePortWait = null
    }

    throw new PortNotDetected(
      `The dev server of ${this.spec.name} did not become ready within ${Math.round(this.spec.readyTimeoutMs / 1000)}s.`,
      this.tail(),
    )
  }

  private ready(port: number): void {
    this.port = port
    this.startedAt = Date.now()
    this.event(`ready on port ${port}`)
  }

  /** The dev server exited: a crash while running is restarted (up to maxRestarts, with backoff). */
  private async onExit(pid: number, code: number | null): Promise<void> {
    if (this.expectedExit || this._state !== 'running' || this.pid !== pid) return
    this.event(`dev server exited (code ${code})`)
    this.pid = null
    if (this.restarts >= this.spec.maxRestarts) {
      this.event(`restart limit (${this.spec.maxRestarts}) reached`)
      this.error = `The dev server exited (code ${code}) and the restart limit (${this.spec.maxRestarts}) was reached.`
      this.transition('crashed')
      this.onEvent('crash', this)
      await killGroup(pid, {graceMs: 500})
      return
    }

    this.restarts += 1
    await sleep(RESTART_BACKOFF_MS * 2 ** (this.restarts - 1))
    await this.serial(async () => {
      if (this._state !== 'running' || this.stoppedForGood) return
      await killGroup(pid, {graceMs: 500})
      this.transition('starting')
      try {
        await this.spawnAndWait()
      } catch (error) {
        this.error = (error as Error).message
        this.event(`restart failed: ${this.error}`)
        await this.killDevServer()
        if (this.is('starting')) this.transition('crashed')
        return
      }

      if (this.is('starting')) this.transition('running')
      this.event(`restarted (${this.restarts}/${this.spec.maxRestarts})`)
      this.onEvent('restart', this)
    })
  }

  /** SIGTERM to the process group, SIGKILL after the grace period; waits until none of it is left. */
  private async killDevServer(): Promise<void> {
    const pid = this.pid
    this.pid = null
    if (!pid) return
    this.expectedExit = true
    await killGroup(pid, {extraPids: processTree(pid)})
  }
}
