// The supervisor: one preview from start to teardown, its life one state field (state.ts), its parts the dev server
// (dev-process.ts), the gateway, the tunnel keeper and the link watcher; it puts them together and keeps the row.
import {createWriteStream, existsSync, type WriteStream} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import {tcpProbe} from '../netprobe.js'
import {StartFailed} from '../errors.js'
import {debugFor} from '../debug.js'
import {ensureDir} from '../fsutil.js'
import {killGroup, preloadExeca, processTree, procStartTime} from '../process.js'
import {TOOL_PROVIDERS, type TunnelHandle} from '../tunnels/types.js'
import {appendAudit} from '../records/audit.js'
import {emitEvent} from '../records/events.js'
import {RequestLogWriter} from '../records/requests.js'
import type {Credential} from '../records/credentials.js'
import {devServerEnv, type AdoptedDevServer} from './dev-server.js'
import {DevProcess, runInstall} from './dev-process.js'
import type {Gateway} from '../gateway/index.js'
import {logFile, sddPaths, type SddPaths} from '../records/paths.js'
import {patchRow, removeRow, upsertRow} from '../records/state.js'
import type {PreviewRow, StopReason} from '../records/types.js'
import type {ReadyMessage, SupervisorSpec} from './ipc.js'
import type {LinkWatcher} from './link-watcher.js'
import {LogTail} from './dev-process.js'
import {patchOwnRow, readOwnRow, startingRow} from './row.js'
import {StateMachine, type PreviewState, type StateListener} from './state.js'
import type {TunnelKeeper} from './tunnel-keeper.js'

export type {FailedMessage, ProgressMessage, ReadyMessage, SupervisorMessage, SupervisorSpec} from './ipc.js'

const debug = debugFor('supervisor')

export const RESTART_BACKOFF_MS = 500
/** How often the idle timer looks at the last activity (at most; shorter for short TTLs). */
export const IDLE_CHECK_MS = 1000

/**
 * The gateway and the tunnel drivers, loaded while the dev server boots: a start spends most of its time
 * waiting for the dev server, so their import cost overlaps with it instead of adding to it. (The link's
 * credential is minted by the CLI, so jose never loads in a supervisor: ~8 MiB less resident per preview.)
 */
function loadStartModules(provider: string) {
  if (TOOL_PROVIDERS.has(provider)) preloadExeca() // the tunnel tool spawns through execa (see process.ts)
  return Promise.all([
    import('../gateway/index.js'),
    import('../tunnels/registry.js'),
    import('../records/credentials.js'),
    // The parts only a ready dev server needs: off the supervisor's own start-up too.
    import('./tunnel-keeper.js'),
    import('./link-watcher.js'),
  ]).then(([gateway, registry, credentials, keeper, watcher]) => ({...credentials, ...gateway, ...registry, ...keeper, ...watcher}))
}

type StartModules = Awaited<ReturnType<typeof loadStartModules>>

export class Supervisor {
  readonly paths: SddPaths
  readonly log: WriteStream
  /** starting -> running <-> idle, running -> restarting -> running, any -> stopping -> stopped (state.ts). */
  private readonly state: StateMachine
  /** The dev server now serving (ours, or the one adopted from `preview start`); null while idle. */
  private dev: DevProcess | null = null
  /** The dev server `preview start` started, until it is adopted (its pid is killed if the start fails first). */
  private adopt: AdoptedDevServer | null
  /** The install's group leader while it runs (a failed start kills it). */
  private installPid: number | null = null
  /** The request inspector's file writer (`preview requests`). */
  private requestLog: RequestLogWriter | null = null
  private gateway: Gateway | null = null
  /** The tunnel keeper and the link watcher, made once the dev server is up (their modules load meanwhile). */
  private tunnels: TunnelKeeper | null = null
  private links: LinkWatcher | null = null
  private readonly tail = new LogTail()
  /** The one teardown of stop(), shared by every caller (a handle, not a state: the state says `stopping`). */
  private stopping: Promise<void> | null = null
  /** The idle wake in flight, shared by the requests that arrive during it (the state says `restarting`). */
  private waking: Promise<void> | null = null
  /** A fact, not a state: the `starting` row is on disk, so a failed start must remove it. */
  private rowWritten = false
  /** A fact, not a state: the start entry is in the audit log, so the stop must balance it. */
  private startAudited = false
  private restarts = 0
  private lastActivity = Date.now()
  private idleTimer: NodeJS.Timeout | null = null
  private resolveDone!: () => void
  /** Resolves when the preview has been torn down (for whatever reason). */
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve
  })

  constructor(
    readonly spec: SupervisorSpec,
    private readonly progress: (step: string, detail: string) => void,
    /** The first link's credential, minted by the CLI while this starts (it names no host). */
    private readonly credential: Promise<Credential>,
  ) {
    credential.catch(() => {}) // awaited in start(); a CLI that went away must not be an unhandled rejection
    this.adopt = spec.adopt ?? null
    this.paths = sddPaths(spec.sddDir)
    ensureDir(this.paths.logs)
    this.state = new StateMachine(`preview ${spec.id}`, 'starting')
    this.state.observe((from, to) => debug('%s state %s -> %s', spec.id, from, to))
    this.log = createWriteStream(logFile(this.paths, spec.id), {flags: 'a', mode: 0o600})
  }

  /** The state now (status, tests). */
  get current(): PreviewState {
    return this.state.current
  }

  /** Hears every state change (from, to); returns the unsubscribe. */
  watchState(listener: StateListener): () => void {
    return this.state.observe(listener)
  }

  /** A line of the supervisor's own, in the log file next to the dev server's output. */
  event(text: string): void {
    debug('%s %s', this.spec.id, text)
    if (this.log.writableEnded) return // a late event after teardown (the log is closed by then)
    this.log.write(`[preview] ${new Date().toISOString()} ${text}\n`)
  }

  /** Starts everything; on any failure rolls back what started and throws. */
  async start(): Promise<ReadyMessage> {
    const {spec} = this
    const modules = loadStartModules(spec.provider)
    modules.catch(() => {}) // awaited below; an early failure must not be an unhandled rejection
    // The `starting` row is written while the dev server boots (its lock and rename are off the critical path).
    const rowWrite = upsertRow(this.paths, startingRow(spec, this.paths)).then(() => {
      this.rowWritten = true
    })
    rowWrite.catch(() => {}) // awaited below
    try {
      if (spec.install) {
        await rowWrite
        await this.install(spec.install)
      }

      const port = spec.attachPort ? await this.attach(spec.attachPort) : await this.startDevServer()
      await rowWrite
      this.event(`dev server ready on port ${port}`)
      this.progress('port', String(port))
      return await this.openFront(port, await modules)
    } catch (error) {
      this.event(`start failed: ${(error as Error).message}`)
      if (!this.state.is('stopping', 'stopped')) this.state.to('stopping')
      await rowWrite.catch(() => {})
      await this.teardown()
      if (this.rowWritten) await removeRow(this.paths, spec.id)
      this.log.end()
      this.finish()
      throw this.tail.attachTo(error)
    }
  }

  /** The gateway in front of `port`, the tunnel to it, the link; the row `running` and the start audited. */
  private async openFront(port: number, modules: StartModules): Promise<ReadyMessage> {
    const {spec} = this
    const {linkUrl, selectDriver} = modules
    const {links, tunnels} = this.makeParts(modules)
    this.gateway = await this.startGateway(port, modules, links)
    this.event(`gateway on ${this.gateway.url}`)
    const {driver, tunnel} = await tunnels.open(selectDriver, this.gateway, (name) => this.progress('tunnel', name))
    this.gateway.setPublicUrl(tunnel.publicUrl)
    this.progress('link', spec.authMode)
    const credential = await this.credential
    const link = {record: credential.record, url: linkUrl(tunnel.publicUrl, spec.authMode, credential.secret)}
    this.gateway.setLinks([link.record])
    links.seed([link.record])
    const row = await patchRow(this.paths, spec.id, {
      gateway_port: this.gateway.port,
      links: [link.record],
      ...this.devServerFields(port),
      public_url: tunnel.publicUrl,
      share_url: link.url,
      status: 'running',
      tunnel_name: tunnel.name ?? null,
      tunnel_pid: tunnel.pid ?? null,
      tunnel_provider: driver,
      tunnel_start_time: tunnel.pid ? procStartTime(tunnel.pid) : null,
    })
    if (!row) throw new StartFailed('The preview was stopped while it was starting.')
    await appendAudit(this.paths, {
      auth_mode: spec.authMode,
      branch: spec.branch ?? null,
      command: spec.command,
      commit: spec.commit ?? null,
      event: 'start',
      expires_at_epoch: spec.expiresAtEpoch,
      jti: link.record.jti,
      preview_id: spec.id,
      provider: driver,
      sandbox_backend: spec.sandboxBackend,
    })
    this.startAudited = true
    if (!this.state.is('starting')) throw new StartFailed('The preview was stopped while it was starting.')
    this.state.to('running')
    this.armTimers()
    this.event(`running: ${row.public_url}`)
    emitEvent(this.paths, spec.id, 'ready', {port, public_url: row.public_url})
    const warnings = spec.authMode === 'none' ? ['auth=none: anyone with the URL can reach this preview.'] : []
    const unreachable = await tunnels.probe(driver, row.public_url!)
    if (unreachable) warnings.push(unreachable)
    return {row, shareUrl: link.url, type: 'ready', warnings}
  }

  private makeParts({LinkWatcher: Watcher, TunnelKeeper: Keeper}: StartModules): {links: LinkWatcher; tunnels: TunnelKeeper} {
    const {spec} = this
    this.links = new Watcher({
      event: (text) => this.event(text),
      orphaned: () => void this.stop('operator', {orphaned: true}),
      paths: this.paths,
      previewId: spec.id,
      setLinks: (links) => this.gateway?.setLinks(links),
      stopping: () => this.state.is('stopping', 'stopped'),
    })
    this.tunnels = new Keeper({
      active: () => this.state.is('running', 'idle', 'restarting'),
      env: spec.env,
      event: (text) => this.event(text),
      lost: () => this.stop('crash'),
      provider: spec.provider,
      providers: spec.providers,
      previewId: spec.id,
      ref: spec.ref ?? null,
      reopened: (tunnel) => this.onTunnelReopened(tunnel),
    })
    return {links: this.links, tunnels: this.tunnels}
  }

  private startGateway(port: number, {loadJwtKey, startGateway}: StartModules, links: LinkWatcher): Promise<Gateway> {
    const {spec} = this
    const requestLog = new RequestLogWriter(this.paths, spec.id)
    this.requestLog = requestLog
    return startGateway({
      auth: {
        jwtKey: loadJwtKey(this.paths),
        links: [],
        mode: spec.authMode,
        previewId: spec.id,
        reloadLinks: () => links.currentLinks(),
      },
      onRequest: (r) => requestLog.add(r),
      ...(spec.gatewayBind ? {bindHost: spec.gatewayBind} : {}),
      ...(spec.gatewayIdleTimeoutMs ? {idleTimeoutMs: spec.gatewayIdleTimeoutMs} : {}),
      targetPort: port,
      ...(spec.idleTtlMs ? {ensureUpstream: () => this.ensureAwake(), onActivity: () => (this.lastActivity = Date.now())} : {}),
    })
  }

  /** The dev server of this preview, started (or adopted) and ready on its port. */
  private startDevServer(): Promise<number> {
    this.event(`starting: ${this.spec.command} in ${this.spec.cwd} (PORT=${this.spec.port})`)
    this.progress('dev server', this.spec.command)
    return this.spawnDevServer()
  }

  /** `--attach`: the server is someone else's; it must answer now, and it is never signalled. */
  private async attach(port: number): Promise<number> {
    this.event(`attaching to the server on 127.0.0.1:${port}`)
    this.progress('attach', `127.0.0.1:${port}`)
    if (!(await tcpProbe(port)))
      throw new StartFailed(
        `Nothing answers on 127.0.0.1:${port} any more.`,
        [],
        'Start your server again, then `preview start --attach` it.',
      )
    return port
  }

  /** The clean install of a fresh worktree, output to the log; a failure fails the start with its last lines. */
  private async install(command: string): Promise<void> {
    this.event(`installing dependencies: ${command}`)
    this.progress('install', command)
    await runInstall(command, {
      cwd: this.spec.cwd,
      details: () => this.tail.details(),
      env: this.spec.env,
      failHint: 'Fix the install (see the lines above), or set `install:` in .sdd/preview.yaml, or pass --no-install.',
      onLine: (line) => this.tail.push(line),
      pipe: this.log,
      timeoutHint: 'Install by hand in the worktree, then start with --no-install.',
      track: (pid) => (this.installPid = pid),
    })
    this.tail.clear()
    this.event('dependencies installed')
  }

  /** `preview restart`: a fresh dev server in the same sandbox, behind the same gateway, tunnel and links. */
  async restartDevServer(): Promise<void> {
    if (!this.state.is('running', 'idle') || this.spec.attachPort) return
    const requestedAt = this.restartRequestedAt()
    this.event('restart requested')
    this.state.to('restarting')
    try {
      const port = await this.respawnDevServer({restarted_at_ms: Math.max(requestedAt, Date.now())})
      await appendAudit(this.paths, {event: 'restart', preview_id: this.spec.id, reason: 'operator', restarts: this.restarts})
      this.event(`restarted on port ${port}`)
    } catch (error) {
      this.event(`restart failed: ${(error as Error).message}`)
      await patchRow(this.paths, this.spec.id, {restart_error: (error as Error).message, restarted_at_ms: Date.now()}).catch(() => null)
      await this.stop('crash')
    }
  }

  /** Spawns (or adopts: only the first dev server; restarts are our own children) and resolves with its port. */
  private spawnDevServer(): Promise<number> {
    const {spec} = this
    const adopt = this.adopt
    const onLine = (line: string) => this.tail.push(line)
    // An adopted server's output goes straight into the log file: it is read there, not copied.
    const dev = adopt
      ? DevProcess.adopt(adopt, logFile(this.paths, spec.id), {onLine})
      : DevProcess.spawn(
          spec.run?.command ?? spec.command,
          {cwd: spec.cwd, env: devServerEnv({...spec.env, ...spec.run?.env}, spec.port)},
          {onLine, pipe: this.log},
        )
    this.adopt = null
    this.dev = dev
    return dev.waitForPort({details: () => this.tail.details(), port: spec.port, readyTimeoutMs: spec.readyTimeoutMs})
  }

  /** Our row updated while running (an unreadable state.json skips the update, logged: row.ts). */
  private patchOwnRow(patch: Partial<PreviewRow>): Promise<void> {
    return patchOwnRow(this.paths, this.spec.id, patch, (text) => this.event(text))
  }

  /** When `preview restart` asked (the CLI writes it into the row before the signal), else now. */
  private restartRequestedAt(): number {
    const at = Number(readOwnRow(this.paths, this.spec.id)?.restart_requested_at_ms)
    return Number.isFinite(at) ? at : Date.now()
  }

  private armTimers(): void {
    const {spec} = this
    this.links?.watch(spec.expiresAtEpoch, () => void this.stop('expiry'))
    if (this.dev) this.watchDevExit(this.dev)
    if (spec.idleTtlMs) {
      const ttl = spec.idleTtlMs
      this.idleTimer = setInterval(() => void this.checkIdle(ttl), Math.min(IDLE_CHECK_MS, Math.max(100, ttl / 4)))
    }
  }

  /** Scale to zero: after the TTL without gateway activity, stop the dev server; the gateway and tunnel stay. */
  private async checkIdle(ttl: number): Promise<void> {
    // An open WebSocket (HMR) is activity even when quiet: the page is open somewhere.
    if ((this.gateway?.openSockets() ?? 0) > 0) this.lastActivity = Date.now()
    if (!this.state.is('running') || Date.now() - this.lastActivity < ttl) return
    this.state.to('idle')
    this.event(`idle for ${Math.round(ttl / 1000)}s: stopping the dev server until the next request`)
    emitEvent(this.paths, this.spec.id, 'idle', {idle_ttl_ms: ttl})
    const dev = this.dev
    this.dev = null // gone: never signal that pid again (it may be reused while we sleep)
    await dev?.kill()
    await this.patchOwnRow({process_pid: null, process_start_time: null, status: 'idle'})
  }

  /** The row's view of the dev server now running. */
  private devServerFields(port: number): Partial<PreviewRow> {
    const pid = this.dev?.pid ?? null
    return {port, process_pid: pid, process_start_time: pid ? procStartTime(pid) : null}
  }

  /**
   * A new dev server in place of the old one (crash restart, operator restart, idle wake; state `restarting`): the
   * old group killed, the gateway pointed at the new port, the row patched, the exit watch re-armed, `running` again.
   */
  private async respawnDevServer(patch: Partial<PreviewRow>): Promise<number> {
    await this.dev?.kill(1000)
    // Stopped while the old one was dying: the teardown is over without a new one, so start none.
    if (!this.state.is('restarting')) throw new StartFailed('stopped while restarting: no new dev server started.')
    this.tail.clear()
    const port = await this.spawnDevServer()
    this.gateway?.setTargetPort(port)
    this.lastActivity = Date.now()
    await this.patchOwnRow({...this.devServerFields(port), ...patch, status: 'running'})
    if (!this.state.is('restarting')) return port // stopped meanwhile: the teardown has the new server
    this.state.to('running')
    this.watchDevExit(this.dev!)
    return port
  }

  /** Called by the gateway before it opens an upstream connection: wakes an idle dev server and waits for it. */
  private ensureAwake(): Promise<void> {
    this.lastActivity = Date.now()
    if (this.waking || !this.state.is('idle')) return this.waking ?? Promise.resolve()
    this.state.to('restarting')
    this.waking = (async () => {
      this.event('request while idle: starting the dev server again')
      try {
        const port = await this.respawnDevServer({})
        this.event(`awake on port ${port}`)
        emitEvent(this.paths, this.spec.id, 'wake', {port})
      } catch (error) {
        // Still idle: the next request tries again.
        if (this.state.is('restarting')) this.state.to('idle')
        throw error
      }
    })().finally(() => {
      this.waking = null
    })
    return this.waking
  }

  private watchDevExit(dev: DevProcess): void {
    void dev.exit.then((code) => this.onDevServerExit(dev, code))
  }

  /** A crash of the dev server that serves (not one we killed): restarted with backoff, up to maxRestarts. */
  private async onDevServerExit(dev: DevProcess, code: number | null): Promise<void> {
    if (dev !== this.dev || !this.state.is('running')) return
    this.event(`dev server exited (code ${code})`)
    emitEvent(this.paths, this.spec.id, 'crash', {exit_code: code, restarts: this.restarts})
    if (this.restarts >= this.spec.maxRestarts) {
      this.event(`restart limit (${this.spec.maxRestarts}) reached`)
      await this.stop('crash')
      return
    }

    this.state.to('restarting')
    this.restarts += 1
    await sleep(RESTART_BACKOFF_MS * 2 ** (this.restarts - 1))
    if (!this.state.is('restarting')) return // stopped during the backoff
    try {
      await this.respawnDevServer({restarts: this.restarts})
      await appendAudit(this.paths, {event: 'restart', exit_code: code, preview_id: this.spec.id, restarts: this.restarts})
      this.event(`restarted (${this.restarts}/${this.spec.maxRestarts})`)
    } catch (error) {
      this.event(`restart failed: ${(error as Error).message}`)
      await this.stop('crash')
    }
  }

  /** The tunnel came back: the gateway and the row follow it (a quick tunnel comes back under a new hostname). */
  private async onTunnelReopened(tunnel: TunnelHandle): Promise<void> {
    this.gateway?.setPublicUrl(tunnel.publicUrl)
    // Tokens do not name the host, so the link moves with it.
    await this.patchOwnRow({
      public_url: tunnel.publicUrl,
      share_url: this.tunnels?.rehost(readOwnRow(this.paths, this.spec.id)?.share_url ?? null) ?? null,
      tunnel_name: tunnel.name ?? null,
      tunnel_pid: tunnel.pid ?? null,
      tunnel_start_time: tunnel.pid ? procStartTime(tunnel.pid) : null,
    })
  }

  /**
   * Tears down (tunnel, gateway, dev server), removes the row, records the stop. Idempotent: the first call's
   * reason counts. `orphaned`: our row was removed behind our back (the stop still balances the start entry).
   */
  stop(reason: StopReason, {orphaned = false} = {}): Promise<void> {
    if (this.stopping) return this.stopping
    if (this.state.is('stopping', 'stopped')) return this.done // a failed start is rolling back
    this.state.to('stopping')
    this.stopping = (async () => {
      this.event(`stopping (${reason})`)
      // The row says `stopping` while the teardown runs (which need not wait for the write).
      const marked = patchRow(this.paths, this.spec.id, {status: 'stopping'}).catch(() => null)
      await this.teardown()
      await marked
      const row = await removeRow(this.paths, this.spec.id).catch(() => null)
      if (this.startAudited && (row || (orphaned && existsSync(this.paths.audit)))) {
        await appendAudit(this.paths, {event: 'stop', preview_id: this.spec.id, reason, ...(row ? {} : {row_missing: true})}).catch(
          () => null,
        )
      }
      this.event('stopped')
      await new Promise<void>((resolve) => {
        this.log.end(resolve)
      })
      this.finish()
    })()
    return this.stopping
  }

  private finish(): void {
    if (!this.state.is('stopped')) this.state.to('stopped')
    this.resolveDone()
  }

  /**
   * The tunnel, the gateway (then its request log) and the dev server (ours or adopted; or the one `preview start`
   * started, and an install, at a failed start) go down at once: none needs another gone first (a request the
   * gateway holds fails either way), so a stop waits for the slowest, not for the sum.
   */
  private async teardown(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer)
    this.links?.close()
    const gateway = this.gateway
    this.gateway = null
    const front = gateway?.close().catch((error: Error) => this.event(`gateway close: ${error.message}`))
    const groups = [...new Set([this.adopt?.pid, this.installPid].filter((p): p is number => Boolean(p)))]
    await Promise.all([
      this.tunnels?.close(),
      Promise.resolve(front).then(() => this.requestLog?.flush()),
      this.dev?.kill(),
      ...groups.map((pid) => killGroup(pid, {extraPids: processTree(pid)})),
    ])
  }
}
