// One preview of `preview serve`, supervised in-process: its worktree, install, dev server, port capture, crash
// restarts, idle stop and wake, and auto-pull. It runs on the supervisor's own parts: the state machine
// (supervisor/state.ts) and the dev server (supervisor/dev-process.ts: spawn, install, port wait, exit, kill);
// what it leaves out is the detached supervisor's state.json row, tunnel, link watcher and IPC, so one host
// process can run many of them.
import {freePort, tcpProbe} from '../netprobe.js'
import {createWriteStream, existsSync, mkdirSync, type WriteStream} from 'node:fs'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {PreviewError} from '../errors.js'
import {killGroup, processTree, run} from '../process.js'
import {devServerEnv} from '../supervisor/dev-server.js'
import {DevProcess, runInstall} from '../supervisor/dev-process.js'
import {StateMachine} from '../supervisor/state.js'
import {chooseCommand, discoverCommands} from '../discovery/commands.js'
import {installCommand} from '../sandbox/install.js'
import type {SddPaths} from '../records/paths.js'
import {stripAnsi} from '../discovery/port-capture.js'
import {createWorktree, headCommit, pullBranch} from '../sandbox/resolve.js'
import type {RequestRecord} from '../gateway/types.js'

/** Lines of output and requests kept per preview (the status JSON shows them). */
export const RECENT_LINES = 100
export const RECENT_REQUESTS = 100
/** Bound on fetch + reset before a stale branch is served. */
export const AUTO_PULL_TIMEOUT_MS = 30_000
export const RESTART_BACKOFF_MS = 500
/** Before this, only the output is read for the port (a banner comes first for nearly every dev server). */
const SOCKET_SCAN_AFTER_MS = 1000

/**
 * A runner's state as the host shows it (`state`, the status JSON): the supervisor's states (state.ts), with
 * `restarting` shown as `starting` and a `stopped` that gave up by itself (a failed start, the restart limit)
 * shown as `crashed`.
 */
export type RunnerState = 'stopped' | 'starting' | 'running' | 'idle' | 'crashed' | 'stopping'

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
  /** stopped -> starting -> running <-> idle, running/idle -> restarting -> running, any -> stopping -> stopped. */
  private readonly machine: StateMachine
  /** A fact about the last `stopped`: the dev server gave up by itself (shown as `crashed`; the next request retries). */
  private crashed = false
  private queue: Promise<unknown> = Promise.resolve()
  /** The dev server now running (null while idle, stopped, or between a crash and its restart). */
  private dev: DevProcess | null = null
  /** A dev server that crashed, during the restart backoff: its group may still hold its children. */
  private crashedDev: DevProcess | null = null
  /** The install's group leader while it runs. */
  private installPid: number | null = null
  private port: number | null = null
  private commit: string | null = null
  private command: string | null = null
  private worktree: string | null = null
  private startedAt: number | null = null
  private lastRequest: number | null = null
  private lastActivity = Date.now()
  private pullDue = false
  private restarts = 0
  private lines: string[] = []
  private requests: RequestRecord[] = []
  private log: WriteStream | null = null
  private error: string | null = null
  /** A fact, not a state: the host is shutting down (or the repository was removed); no start may begin. */
  private stoppedForGood = false

  constructor(
    readonly spec: RunnerSpec,
    private readonly onEvent: (event: RunnerEvent, runner: PreviewRunner, detail?: string) => void = () => {},
  ) {
    this.machine = new StateMachine(`preview ${spec.name}`, 'stopped')
  }

  get state(): RunnerState {
    const state = this.machine.current
    if (state === 'restarting') return 'starting'
    if (state === 'stopped' && this.crashed) return 'crashed'
    return state
  }

  /** The dev server's port once it is up (the route's targetPort). */
  get targetPort(): number | null {
    return this.port
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
    if (this.machine.is('running') && !this.pullDue) return Promise.resolve()
    return this.serial(async () => {
      if (this.stoppedForGood) throw new PreviewError('HOST_STOPPING', 'The host is shutting down.')
      if (this.pullDue) {
        this.pullDue = false
        await this.pull()
      }

      if (this.machine.is('running')) return
      await this.startDevServer(this.machine.is('idle') ? 'wake' : 'start')
    })
  }

  /** Scale to zero: the dev server stops after the TTL without a request; the route stays and wakes it. */
  async checkIdle(ttlMs: number, now = Date.now()): Promise<void> {
    if (!this.machine.is('running') || now - this.lastActivity < ttlMs) return
    await this.serial(async () => {
      if (!this.machine.is('running') || Date.now() - this.lastActivity < ttlMs) return
      this.event(`idle for ${Math.round(ttlMs / 1000)}s: stopping the dev server until the next request`)
      await this.killDevServer()
      if (!this.machine.is('running')) return // stopped meanwhile
      this.machine.to('idle')
      this.onEvent('idle', this)
    })
  }

  /** Stops the dev server for good (host shutdown, repository removed). */
  stop(): Promise<void> {
    this.stoppedForGood = true
    const kill = async () => {
      this.crashed = false
      if (!this.machine.is('stopping', 'stopped')) this.machine.to('stopping')
      await this.killDevServer()
      if (!this.machine.is('stopped')) this.machine.to('stopped')
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
    const state = this.state
    return {
      command: this.command,
      commit: this.commit,
      label: this.spec.label,
      last_request_seconds_ago: since,
      name: this.spec.name,
      pid: state === 'running' || state === 'starting' ? (this.dev?.pid ?? this.installPid) : null,
      port: state === 'running' ? this.port : null,
      recent_logs: [...this.lines],
      recent_requests: [...this.requests],
      ref: this.spec.ref,
      restart_attempts: this.restarts,
      seconds_until_idle:
        idleTtlMs === null || state !== 'running' ? null : Math.max(0, Math.ceil((idleTtlMs - (now - this.lastActivity)) / 1000)),
      status: state === 'stopped' || state === 'stopping' ? 'idle' : state,
      uptime_seconds: state === 'running' && this.startedAt !== null ? Math.floor((now - this.startedAt) / 1000) : null,
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
    if (!this.machine.is('running')) return
    await this.killDevServer()
    if (!this.machine.is('running')) return // stopped meanwhile
    this.machine.to('restarting')
    await this.spawnOrGiveUp('start after auto-pull failed')
  }

  /** Spawns the dev server (the state is starting or restarting) and waits for it; running, or stopped (crashed) and throws. */
  private async spawnOrGiveUp(failure: string): Promise<void> {
    try {
      await this.spawnAndWait()
    } catch (error) {
      await this.giveUp(failure, error)
      throw error
    }

    if (this.machine.is('starting', 'restarting')) this.machine.to('running')
  }

  /** A start or restart failed: nothing is left running, the state is `stopped` (shown as crashed), the error kept. */
  private async giveUp(failure: string, error: unknown): Promise<void> {
    await this.killDevServer()
    this.error = (error as Error).message
    this.event(`${failure}: ${this.error}`)
    if (this.machine.is('starting', 'restarting')) {
      this.machine.to('stopped')
      this.crashed = true
    }
  }

  private async startDevServer(kind: 'start' | 'wake'): Promise<void> {
    this.machine.to(kind === 'wake' ? 'restarting' : 'starting')
    this.crashed = false
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
      await this.giveUp('start failed', error)
      throw error
    }

    if (!this.machine.is('starting', 'restarting')) return // stopped meanwhile
    this.machine.to('running')
    this.lastActivity = Date.now()
    this.onEvent(kind, this)
  }

  private async runInstall(command: string): Promise<void> {
    this.event(`installing dependencies: ${command}`)
    const hint = 'Fix the install, or set `install:` in .sdd/preview.yaml.'
    await runInstall(command, {
      cwd: this.worktree!,
      details: () => this.tail(),
      env: this.spec.env,
      failHint: hint,
      onLine: (line) => this.line(line),
      timeoutHint: hint,
      track: (pid) => (this.installPid = pid),
    })
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
    const env = devServerEnv(this.spec.env as Record<string, string>, wanted)
    const dev = DevProcess.spawn(this.command!, {cwd: this.worktree!, env}, {onLine: (line) => this.line(line)})
    this.dev = dev
    void dev.exit.then((code) => {
      if (dev === this.dev) this.onExit(dev, code).catch((error: unknown) => this.event(`after the exit: ${(error as Error).message}`))
    })
    const port = await dev.waitForPort({
      abort: () => (this.stoppedForGood ? new PreviewError('HOST_STOPPING', 'The host is shutting down.') : null),
      details: () => this.tail(),
      name: this.spec.name,
      port: wanted,
      readyTimeoutMs: this.spec.readyTimeoutMs,
      socketScanAfterMs: SOCKET_SCAN_AFTER_MS,
    })
    this.port = port
    this.startedAt = Date.now()
    this.event(`ready on port ${port}`)
  }

  /** The dev server exited by itself: a crash while running is restarted (up to maxRestarts, with backoff). */
  private async onExit(dev: DevProcess, code: number | null): Promise<void> {
    if (!this.machine.is('running')) return
    this.event(`dev server exited (code ${code})`)
    this.dev = null
    // Until the restart (or a stop) kills it: what the crashed server left in its process group.
    this.crashedDev = dev
    if (this.restarts >= this.spec.maxRestarts) {
      this.event(`restart limit (${this.spec.maxRestarts}) reached`)
      this.error = `The dev server exited (code ${code}) and the restart limit (${this.spec.maxRestarts}) was reached.`
      this.machine.to('stopped')
      this.crashed = true
      this.onEvent('crash', this)
      await dev.kill(500)
      return
    }

    this.restarts += 1
    await sleep(RESTART_BACKOFF_MS * 2 ** (this.restarts - 1))
    await this.serial(async () => {
      if (!this.machine.is('running') || this.stoppedForGood) return
      this.crashedDev = null
      await dev.kill(500)
      this.machine.to('restarting')
      try {
        await this.spawnOrGiveUp('restart failed')
      } catch {
        return // given up: crashed until the next request
      }

      this.event(`restarted (${this.restarts}/${this.spec.maxRestarts})`)
      this.onEvent('restart', this)
    })
  }

  /** SIGTERM to the process group, SIGKILL after the grace period; waits until none of it is left. */
  private async killDevServer(): Promise<void> {
    const dev = this.dev
    const crashed = this.crashedDev
    const install = this.installPid
    // Cleared first: the exit that follows is ours, not a crash.
    this.dev = null
    this.crashedDev = null
    this.installPid = null
    await Promise.all([dev?.kill(), crashed?.kill()])
    if (install) await killGroup(install, {extraPids: processTree(install)})
  }
}
