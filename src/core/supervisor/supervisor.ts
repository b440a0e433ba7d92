// The supervisor: owns one preview's dev server, gateway, tunnel and timers, from start to teardown.
import {probeCandidate, tcpProbe} from '../netprobe.js'
import {createWriteStream, existsSync, unwatchFile, watchFile, type WriteStream} from 'node:fs'
import {createInterface} from 'node:readline'
import type {ChildProcess} from 'node:child_process'
import {setTimeout as sleep} from 'node:timers/promises'
import {PortNotDetected, PreviewError, StartFailed, StateCorrupt, isPreviewError} from '../errors.js'
import {debugFor} from '../debug.js'
import {ensureDir} from '../fsutil.js'
import {isAlive, killGroup, listeningPorts, preloadExeca, procStartTime, processTree, spawnShellGroup} from '../process.js'
import {TOOL_PROVIDERS, type ProviderConfig, type TunnelHandle} from '../tunnels/types.js'
import {appendAudit} from '../records/audit.js'
import {emitEvent} from '../records/events.js'
import {RequestLogWriter} from '../records/requests.js'
import {INSTALL_TIMEOUT_MS} from '../sandbox/install.js'
import type {Credential} from '../records/credentials.js'
import {EXIT_MARKER, devServerEnv, followLines, watchExit, type AdoptedDevServer} from './dev-server.js'
import type {Gateway} from '../gateway/index.js'
import {logFile, sddPaths, type SddPaths} from '../records/paths.js'
import {PortSniffer, stripAnsi, type PortCandidate} from '../discovery/port-capture.js'
import {LastGoodLinks, linkProblems} from '../records/row-links.js'
import {findRow, patchRow, readStateChecked, removeRow, updateState, upsertRow, type StateRead} from '../records/state.js'
import type {AuthMode, PreviewRow, SandboxBackend, StopReason} from '../records/types.js'

/** Everything a supervisor needs, decided by `preview start` (it is sent over IPC, so plain JSON). */
export interface SupervisorSpec {
  id: string
  sddDir: string
  command: string
  cwd: string
  sandboxBackend: SandboxBackend
  sandboxSessionId: string | null
  provider: string
  providers: Record<string, ProviderConfig>
  authMode: AuthMode
  expiresAtEpoch: number
  readyTimeoutMs: number
  /** Idle scale-to-zero: stop the dev server after this long without a request (null: off). */
  idleTtlMs: number | null
  /** A dependency install to run before the dev command (fresh worktrees), or null. */
  install: string | null
  /** A dev server `preview start` already started (so its boot overlaps this process's); adopted once. */
  adopt?: AdoptedDevServer | null
  maxRestarts: number
  port: number
  env: Record<string, string>
  createdAtEpoch: number
  ref?: string | null
  /** The branch served (null when detached or attached). */
  branch?: string | null
  commit?: string | null
  /** `gateway.bind` from the config (default 127.0.0.1). */
  gatewayBind?: string | null
  /** How the command really runs when it is a package.json script run without its package manager (discovery/script-runner.ts). */
  run?: {command: string; env: Record<string, string>} | null
  /** Config gateway.idle_timeout: a client connection with nothing in flight is closed after this long. */
  gatewayIdleTimeoutMs?: number | null
  /** `--attach PORT`: front the server already listening there; no dev server is started, restarted or killed. */
  attachPort?: number | null
}

export interface ReadyMessage {
  type: 'ready'
  row: PreviewRow
  shareUrl: string
  warnings: string[]
}

export interface FailedMessage {
  type: 'failed'
  error: {code: string; message: string; hint: string | null; details: string[]; kind: 'bad-input' | 'runtime'}
}

/** A step of the start, for the progress display (discover, sandbox, install, dev server, port, tunnel, link). */
export interface ProgressMessage {
  type: 'progress'
  step: string
  detail: string
}

export type SupervisorMessage = ReadyMessage | FailedMessage | ProgressMessage

const debug = debugFor('supervisor')

/** Named so tests (and slow machines) can see them. */
export const RESTART_BACKOFF_MS = 500
export const SOCKET_SCAN_MS = 150
export const LINKS_POLL_MS = 300
/** How often the idle timer looks at the last activity (at most; shorter for short TTLs). */
export const IDLE_CHECK_MS = 1000
/** At most this long is spent checking that the public URL answers before the link is printed. */
export const PROBE_BUDGET_MS = 3000
const LOG_TAIL = 20

/**
 * The gateway and the tunnel drivers, loaded while the dev server boots: a start spends most of its time
 * waiting for the dev server, so their import cost overlaps with it instead of adding to it. (The link's
 * credential is minted by the CLI, so jose never loads in a supervisor: ~8 MiB less resident per preview.)
 */
function loadStartModules(provider: string) {
  if (TOOL_PROVIDERS.has(provider)) preloadExeca() // the tunnel tool spawns through execa (see process.ts)
  return Promise.all([import('../gateway/index.js'), import('../tunnels/registry.js'), import('../records/credentials.js')]).then(
    ([gateway, registry, credentials]) => ({...credentials, ...gateway, ...registry}),
  )
}

type StartModules = Awaited<ReturnType<typeof loadStartModules>>

export class Supervisor {
  readonly paths: SddPaths
  readonly log: WriteStream
  private child: ChildProcess | null = null
  /** The dev server's pid (a process group leader): our child, or the one adopted from `preview start`. */
  private devPid: number | null = null
  private adopt: AdoptedDevServer | null
  private childExit: Promise<number | null> | null = null
  /** The request inspector's file writer (`preview requests`). */
  private requestLog: RequestLogWriter | null = null
  private gateway: Gateway | null = null
  private tunnel: TunnelHandle | null = null
  private tail: string[] = []
  private sniffer = new PortSniffer()
  /** The latest address the output named (push() results; LAN fallbacks are only taken at the end). */
  private lineCandidate: PortCandidate | null = null
  private wakePortWait: (() => void) | null = null
  private stopping: Promise<void> | null = null
  private expiryTimer: NodeJS.Timeout | null = null
  private rowWritten = false
  private ready = false
  private restarts = 0
  private modules: Promise<StartModules> | null = null
  private tunnelRestarted = false
  private orphaned = false
  private operatorRestart = false
  private lastActivity = Date.now()
  private idle = false
  private waking: Promise<void> | null = null
  private idleTimer: NodeJS.Timeout | null = null
  /** The links last read cleanly from our row: kept when state.json has them in a wrong shape. */
  private readonly goodLinks: LastGoodLinks
  /** Our row was missing but an unidentifiable row was there (logged once until our row is back). */
  private unidentifiedSeen = false
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
    // Known from the start, so a failure before it is adopted still kills the dev server the CLI started.
    this.devPid = this.adopt?.pid ?? null
    this.paths = sddPaths(spec.sddDir)
    ensureDir(this.paths.logs)
    this.goodLinks = new LastGoodLinks(spec.id, (text) => this.event(text))
    this.log = createWriteStream(logFile(this.paths, spec.id), {flags: 'a', mode: 0o600})
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
    const modules = (this.modules = loadStartModules(spec.provider))
    modules.catch(() => {}) // awaited below; an early failure must not be an unhandled rejection
    // The `starting` row is written while the dev server boots (its lock and rename are off the critical path).
    const rowWrite = upsertRow(this.paths, this.baseRow()).then(() => {
      this.rowWritten = true
    })
    rowWrite.catch(() => {}) // awaited below
    try {
      if (spec.install) {
        await rowWrite
        await this.runInstall(spec.install)
      }

      const port = spec.attachPort ? await this.attach(spec.attachPort) : await this.startDevServer()
      await rowWrite
      this.event(`dev server ready on port ${port}`)
      this.progress('port', String(port))
      const {linkUrl, loadJwtKey, selectDriver, startGateway} = await modules
      const key = loadJwtKey(this.paths)
      const requestLog = new RequestLogWriter(this.paths, spec.id)
      this.requestLog = requestLog
      this.gateway = await startGateway({
        auth: {jwtKey: key, links: [], mode: spec.authMode, previewId: spec.id, reloadLinks: () => this.currentLinks()},
        onRequest: (r) => requestLog.add(r),
        ...(spec.gatewayBind ? {bindHost: spec.gatewayBind} : {}),
        ...(spec.gatewayIdleTimeoutMs ? {idleTimeoutMs: spec.gatewayIdleTimeoutMs} : {}),
        targetPort: port,
        ...(spec.idleTtlMs ? {ensureUpstream: () => this.ensureAwake(), onActivity: () => (this.lastActivity = Date.now())} : {}),
      })
      this.event(`gateway on ${this.gateway.url}`)
      const driver = await selectDriver(spec.provider, process.env, spec.providers)
      this.progress('tunnel', driver.name)
      this.tunnel = await driver.open({
        config: spec.providers[driver.name] ?? {},
        env: process.env,
        gatewayPort: this.gateway.port,
        localUrl: this.gateway.url,
        log: (line) => this.event(`tunnel: ${line}`),
        previewId: spec.id,
        ref: spec.ref ?? null,
      })
      this.tunnel.onExit((reason) => void this.onTunnelExit(reason, driver.name))
      this.gateway.setPublicUrl(this.tunnel.publicUrl)
      this.progress('link', spec.authMode)
      const credential = await this.credential
      const link = {record: credential.record, url: linkUrl(this.tunnel.publicUrl, spec.authMode, credential.secret)}
      this.gateway.setLinks([link.record])
      this.goodLinks.links = [link.record]
      const row = await patchRow(this.paths, spec.id, {
        gateway_port: this.gateway.port,
        links: [link.record],
        ...this.devServerFields(port),
        public_url: this.tunnel.publicUrl,
        share_url: link.url,
        status: 'running',
        tunnel_name: this.tunnel.name ?? null,
        tunnel_pid: this.tunnel.pid ?? null,
        tunnel_provider: driver.name,
        tunnel_start_time: this.tunnel.pid ? procStartTime(this.tunnel.pid) : null,
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
        provider: driver.name,
        sandbox_backend: spec.sandboxBackend,
      })
      this.ready = true
      this.armTimers()
      this.event(`running: ${row.public_url}`)
      emitEvent(this.paths, spec.id, 'ready', {port, public_url: row.public_url})
      const warnings = spec.authMode === 'none' ? ['auth=none: anyone with the URL can reach this preview.'] : []
      const unreachable = await this.probe(driver.name, row.public_url!)
      if (unreachable) warnings.push(unreachable)
      return {row, shareUrl: link.url, type: 'ready', warnings}
    } catch (error) {
      this.event(`start failed: ${(error as Error).message}`)
      await rowWrite.catch(() => {})
      await this.teardown()
      if (this.rowWritten) await removeRow(this.paths, spec.id)
      this.log.end()
      this.resolveDone()
      throw this.withTail(error)
    }
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
  private async runInstall(command: string): Promise<void> {
    this.event(`installing dependencies: ${command}`)
    this.progress('install', command)
    const child = spawnShellGroup(command, {cwd: this.spec.cwd, env: {...this.spec.env, CI: 'true'}})
    this.child = child
    const exit = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)))
      child.once('error', () => resolve(127))
    })
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue
      stream.pipe(this.log, {end: false})
      createInterface({crlfDelay: Infinity, input: stream}).on('line', (line) => {
        this.tail.push(line)
        if (this.tail.length > LOG_TAIL) this.tail.shift()
      })
    }

    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), INSTALL_TIMEOUT_MS)
    })
    const code = await Promise.race([exit, timedOut])
    clearTimeout(timer)
    if (code === 'timeout') {
      await killGroup(child.pid, {extraPids: child.pid ? processTree(child.pid) : []})
      throw new StartFailed(
        `${command} did not finish within ${INSTALL_TIMEOUT_MS / 60_000} minutes.`,
        this.tailDetails(),
        'Install by hand in the worktree, then start with --no-install.',
      )
    }

    if (code !== 0) {
      throw new StartFailed(
        `${command} failed (exit ${code}).`,
        this.tailDetails(),
        'Fix the install (see the lines above), or set `install:` in .sdd/preview.yaml, or pass --no-install.',
      )
    }

    this.child = null
    this.tail = []
    this.event('dependencies installed')
  }

  /** `preview restart`: a fresh dev server in the same sandbox, behind the same gateway, tunnel and links. */
  async restartDevServer(): Promise<void> {
    if (this.stopping || !this.ready || this.operatorRestart || this.spec.attachPort) return
    const requestedAt = this.restartRequestedAt()
    this.event('restart requested')
    this.idle = false
    this.operatorRestart = true
    try {
      const port = await this.respawnDevServer({restarted_at_ms: Math.max(requestedAt, Date.now())})
      await appendAudit(this.paths, {event: 'restart', preview_id: this.spec.id, reason: 'operator', restarts: this.restarts})
      this.event(`restarted on port ${port}`)
    } catch (error) {
      this.event(`restart failed: ${(error as Error).message}`)
      await patchRow(this.paths, this.spec.id, {restart_error: (error as Error).message, restarted_at_ms: Date.now()}).catch(() => null)
      await this.stop('crash')
    } finally {
      this.operatorRestart = false
    }
  }

  /**
   * Quick-tunnel hostnames resolve a few seconds after they are printed: wait for the public URL, bounded,
   * and warn rather than fail. PREVIEW_PROBE_TIMEOUT_MS=0 turns it off (tests: no traffic off loopback).
   */
  private async probe(provider: string, url: string): Promise<string | null> {
    const budget = Number(this.spec.env.PREVIEW_PROBE_TIMEOUT_MS ?? PROBE_BUDGET_MS)
    // Your own edge (template, caddy): the name is yours, often on split or private DNS that public resolvers
    // cannot see; asking them would only delay every start by the budget and warn wrongly.
    if (provider === 'local' || provider === 'template' || provider === 'caddy' || !(budget > 0)) return null
    const {probePublicUrl} = await import('../tunnels/probe.js')
    const warning = await probePublicUrl(url, {timeoutMs: budget})
    if (warning) this.event(`probe: ${warning}`)
    return warning
  }

  private baseRow(): PreviewRow {
    const {spec} = this
    return {
      auth_mode: spec.authMode,
      branch: spec.branch ?? null,
      command: spec.command,
      commit: spec.commit ?? null,
      created_at_epoch: spec.createdAtEpoch,
      cwd: spec.cwd,
      expires_at_epoch: spec.expiresAtEpoch,
      gateway_port: null,
      links: [],
      log_file: logFile(this.paths, spec.id),
      port: null,
      preview_id: spec.id,
      process_pid: null,
      public_url: null,
      ref: spec.ref ?? null,
      restarts: 0,
      sandbox_backend: spec.sandboxBackend,
      sandbox_session_id: spec.sandboxSessionId,
      share_url: null,
      status: 'starting',
      supervisor_pid: process.pid,
      supervisor_start_time: procStartTime(process.pid),
      tunnel_name: null,
      tunnel_provider: (spec.provider === 'auto' ? 'local' : spec.provider) as PreviewRow['tunnel_provider'],
    }
  }

  private withTail(error: unknown): PreviewError {
    const tail = this.cleanTail()
    if (isPreviewError(error)) {
      if (error.details.length === 0 && tail.length > 0) error.details.push(`last ${tail.length} lines of the dev server's log:`, ...tail)
      return error
    }

    return new StartFailed(
      `Start failed: ${(error as Error).message}`,
      tail.length > 0 ? [`last ${tail.length} lines of the dev server's log:`, ...tail] : [],
    )
  }

  /** Spawns (or adopts) the dev server in its own process group and resolves with the port it serves on. */
  private async spawnDevServer(): Promise<number> {
    const {spec} = this
    this.sniffer = new PortSniffer()
    this.lineCandidate = null
    const onLine = (line: string) => {
      // Raw lines in the tail: they are only cleaned if an error shows them (the sniffer cleans its own copy).
      this.tail.push(line)
      if (this.tail.length > LOG_TAIL) this.tail.shift()
      const candidate = this.sniffer.push(line)
      if (candidate) {
        this.lineCandidate = candidate
        this.wakePortWait?.() // probe now rather than at the next tick
      } else if (this.lineCandidate && this.sniffer.rejected.has(this.lineCandidate.port)) this.lineCandidate = this.sniffer.best()
    }

    const adopt = this.adopt
    this.adopt = null // only the first dev server is adopted; restarts are our own children
    if (adopt) {
      this.child = null
      this.devPid = adopt.pid
      let exitedWith: (code: number) => void = () => {}
      const reported = new Promise<number>((resolve) => (exitedWith = resolve))
      // Its exit code comes as a line its wrapper shell writes; /proc tells when it is gone in any case.
      const exit = Promise.race([reported, watchExit(adopt.pid, adopt.startTime)])
      this.childExit = exit
      // Its output goes straight into the log file: read it there, as it is written (skipping our own lines).
      const stop = followLines(logFile(this.paths, spec.id), adopt.logOffset, (line) => {
        const marker = EXIT_MARKER.exec(line)
        if (marker) exitedWith(Number(marker[1]))
        else if (!line.startsWith('[preview] ')) onLine(line)
      })
      try {
        return await this.waitForPort(adopt.pid, exit)
      } finally {
        stop()
      }
    }

    const child = spawnShellGroup(spec.run?.command ?? spec.command, {
      cwd: spec.cwd,
      env: devServerEnv({...spec.env, ...spec.run?.env}, spec.port),
    })
    this.child = child
    this.devPid = child.pid ?? null
    const exit = new Promise<number | null>((resolve) => {
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)))
      child.once('error', () => resolve(127))
    })
    this.childExit = exit
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue
      stream.pipe(this.log, {end: false})
      createInterface({crlfDelay: Infinity, input: stream}).on('line', onLine)
    }

    return this.waitForPort(child.pid ?? null, exit)
  }

  /** Port from the output lines, else from the sockets the process tree listens on; confirmed by TCP connect. */
  private async waitForPort(pid: number | null, exit: Promise<number | null>): Promise<number> {
    const {spec} = this
    const deadline = Date.now() + spec.readyTimeoutMs
    let exited: number | null | undefined
    void exit.then((code) => {
      exited = code
    })
    let lastSocketScan = 0
    while (Date.now() < deadline) {
      if (exited !== undefined) {
        await sleep(50) // let the last output lines arrive
        throw new StartFailed(
          `The dev server exited${exited === null ? '' : ` (code ${exited})`} before it was ready.`,
          this.tailDetails(),
          'Run the command by hand in the worktree to see why, or fix it and start again.',
        )
      }

      const candidate = this.lineCandidate
      if (candidate && (await probeCandidate(candidate))) return candidate.port
      if (Date.now() - lastSocketScan >= SOCKET_SCAN_MS && pid) {
        lastSocketScan = Date.now()
        const socketPorts = listeningPorts(processTree(pid)).filter((p) => !this.sniffer.rejected.has(p))
        if (socketPorts.includes(spec.port) && (await tcpProbe(spec.port))) return spec.port
        // Without a banner, a single listening socket is the server (debugger ports are never the only one).
        if (!candidate && socketPorts.length === 1 && socketPorts[0] !== 9229 && (await tcpProbe(socketPorts[0]!))) return socketPorts[0]!
      }

      await Promise.race([sleep(40), exit, new Promise<void>((resolve) => (this.wakePortWait = resolve))])
      this.wakePortWait = null
    }

    // Last resort: an address only a LAN line named.
    const fallback = this.sniffer.best()
    if (fallback && (await probeCandidate(fallback))) return fallback.port
    throw new PortNotDetected(
      `The dev server did not become ready within ${Math.round(spec.readyTimeoutMs / 1000)}s (no port in its output, no listening socket).`,
      this.tailDetails(),
    )
  }

  /** The last lines, without colour codes (for error messages). */
  private cleanTail(): string[] {
    return this.tail.map((l) => stripAnsi(l))
  }

  private tailDetails(): string[] {
    const tail = this.cleanTail()
    return tail.length > 0 ? [`last ${tail.length} lines of the dev server's log:`, ...tail] : ['(the dev server printed nothing)']
  }

  /**
   * Our row updated while running (idle, wake, restart, tunnel reopen). A state.json that does not parse is
   * not a reason to stop serving: the update is skipped and logged (the file is reported by every command).
   */
  private async patchOwnRow(patch: Partial<PreviewRow>): Promise<void> {
    try {
      await patchRow(this.paths, this.spec.id, patch)
    } catch (error) {
      if (!(error instanceof StateCorrupt)) throw error
      this.event(`state.json cannot be read, our row was not updated: ${error.message}`)
    }
  }

  /** Our row as state.json has it now (undefined when it cannot be read). */
  private readOwnRow(): PreviewRow | undefined {
    try {
      return findRow(this.paths, this.spec.id)
    } catch {
      return undefined
    }
  }

  /** When `preview restart` asked (the CLI writes it into the row before the signal), else now. */
  private restartRequestedAt(): number {
    const at = Number(this.readOwnRow()?.restart_requested_at_ms)
    return Number.isFinite(at) ? at : Date.now()
  }

  /** The row's links as state.json has them now (null when unreadable, wrong-shaped or the row is gone). */
  private currentLinks(): PreviewRow['links'] | null {
    try {
      const read = readStateChecked(this.paths)
      if (linkProblems(read.problems, this.spec.id).length > 0) return null
      return read.state.previews.find((r) => r.preview_id === this.spec.id)?.links ?? null
    } catch {
      return null
    }
  }

  /**
   * state.json changed: pick up new and revoked links. If our row is gone (state.json deleted or reset, the
   * repository removed), nobody can reach this preview any more to stop it: stop by ourselves rather than run
   * until expiry as an orphan. An unreadable file is left alone (keep serving; `preview` reports the file), and
   * so is a row that cannot be identified (it may be ours). Wrong-shaped links: keep ours and write them back.
   */
  private onStateChange(): void {
    let read: StateRead
    try {
      read = readStateChecked(this.paths)
    } catch {
      return
    }

    const row = read.state.previews.find((r) => r.preview_id === this.spec.id)
    if (!row) {
      if (this.stopping) return
      if (read.unreadable.length > 0) {
        if (!this.unidentifiedSeen) this.event('state.json has a row without a readable preview_id (it may be this one): still serving')
        this.unidentifiedSeen = true
        return
      }

      this.event('this preview is no longer in state.json: stopping')
      this.orphaned = true
      void this.stop('operator')
      return
    }

    this.unidentifiedSeen = false
    const {links, repair} = this.goodLinks.take(row, read.problems)
    this.gateway?.setLinks(links)
    if (repair) void this.repairLinks()
  }

  /** Puts the links we serve back into our row, if they are still wrong-shaped there (under the lock). */
  private async repairLinks(): Promise<void> {
    await updateState(
      this.paths,
      (state, problems) => {
        const row = state.previews.find((r) => r.preview_id === this.spec.id)
        if (row && linkProblems(problems, this.spec.id).length > 0) row.links = this.goodLinks.merge(row.links)
      },
      {repair: {fields: ['links'], preview_id: this.spec.id}},
    ).catch((error: unknown) => this.event(`could not put the links back into state.json: ${(error as Error).message}`))
  }

  private armTimers(): void {
    const {spec} = this
    const ms = Math.max(0, spec.expiresAtEpoch * 1000 - Date.now())
    this.expiryTimer = setTimeout(() => void this.stop('expiry'), ms)
    // Revocations and new links are written to state.json by other processes; pick them up within a second.
    watchFile(this.paths.state, {interval: LINKS_POLL_MS}, () => this.onStateChange())
    void this.childExit?.then((code) => this.onDevServerExit(code))
    if (spec.idleTtlMs) {
      const ttl = spec.idleTtlMs
      this.idleTimer = setInterval(() => void this.checkIdle(ttl), Math.min(IDLE_CHECK_MS, Math.max(100, ttl / 4)))
    }
  }

  /** Scale to zero: after the TTL without gateway activity, stop the dev server; the gateway and tunnel stay. */
  private async checkIdle(ttl: number): Promise<void> {
    // An open WebSocket (HMR) is activity even when quiet: the page is open somewhere.
    if ((this.gateway?.openSockets() ?? 0) > 0) this.lastActivity = Date.now()
    if (this.idle || this.waking || this.stopping || Date.now() - this.lastActivity < ttl) return
    this.idle = true
    this.event(`idle for ${Math.round(ttl / 1000)}s: stopping the dev server until the next request`)
    emitEvent(this.paths, this.spec.id, 'idle', {idle_ttl_ms: ttl})
    const pid = this.devPid
    this.devPid = null // gone: never signal that pid again (it may be reused while we sleep)
    if (pid) await killGroup(pid, {extraPids: processTree(pid)})
    await this.patchOwnRow({process_pid: null, process_start_time: null, status: 'idle'})
  }

  /** The row's view of the dev server now running. */
  private devServerFields(port: number): Partial<PreviewRow> {
    const pid = this.devPid
    return {port, process_pid: pid, process_start_time: pid ? procStartTime(pid) : null}
  }

  /**
   * A new dev server in place of the old one (crash restart, operator restart, idle wake): the old group is
   * killed if anything is left of it, the gateway is pointed at the new port, the row is updated with `patch`,
   * and the exit watch is re-armed. Resolves with the port.
   */
  private async respawnDevServer(patch: Partial<PreviewRow>): Promise<number> {
    const old = this.devPid
    if (old) await killGroup(old, {extraPids: processTree(old), graceMs: 1000})
    this.tail = []
    const port = await this.spawnDevServer()
    this.gateway?.setTargetPort(port)
    this.lastActivity = Date.now()
    await this.patchOwnRow({...this.devServerFields(port), ...patch, status: 'running'})
    void this.childExit?.then((c) => this.onDevServerExit(c))
    return port
  }

  /** Called by the gateway before it opens an upstream connection: wakes an idle dev server and waits for it. */
  private ensureAwake(): Promise<void> {
    this.lastActivity = Date.now()
    if (!this.idle) return Promise.resolve()
    this.waking ??= (async () => {
      this.event('request while idle: starting the dev server again')
      const port = await this.respawnDevServer({})
      this.idle = false
      this.event(`awake on port ${port}`)
      emitEvent(this.paths, this.spec.id, 'wake', {port})
    })().finally(() => {
      this.waking = null
    })
    return this.waking
  }

  private async onDevServerExit(code: number | null): Promise<void> {
    if (this.stopping || !this.ready || this.idle || this.operatorRestart) return
    this.event(`dev server exited (code ${code})`)
    emitEvent(this.paths, this.spec.id, 'crash', {exit_code: code, restarts: this.restarts})
    if (this.restarts >= this.spec.maxRestarts) {
      this.event(`restart limit (${this.spec.maxRestarts}) reached`)
      await this.stop('crash')
      return
    }

    this.restarts += 1
    await sleep(RESTART_BACKOFF_MS * 2 ** (this.restarts - 1))
    if (this.stopping) return
    try {
      await this.respawnDevServer({restarts: this.restarts})
      await appendAudit(this.paths, {event: 'restart', exit_code: code, preview_id: this.spec.id, restarts: this.restarts})
      this.event(`restarted (${this.restarts}/${this.spec.maxRestarts})`)
    } catch (error) {
      this.event(`restart failed: ${(error as Error).message}`)
      await this.stop('crash')
    }
  }

  /** A tunnel that dies after start is reopened once; if it dies again (or cannot reopen) the preview stops (crash). */
  private async onTunnelExit(reason: string, provider: string): Promise<void> {
    if (this.stopping || !this.ready) return
    this.event(`tunnel (${provider}) exited: ${reason}`)
    if (this.tunnelRestarted || !this.gateway) {
      await this.stop('crash')
      return
    }

    this.tunnelRestarted = true
    try {
      const {selectDriver} = await this.modules!
      const driver = await selectDriver(provider, process.env, this.spec.providers)
      const tunnel = await driver.open({
        config: this.spec.providers[provider] ?? {},
        env: process.env,
        gatewayPort: this.gateway.port,
        localUrl: this.gateway.url,
        log: (line) => this.event(`tunnel: ${line}`),
        previewId: this.spec.id,
        ref: this.spec.ref ?? null,
      })
      if (this.stopping) {
        await tunnel.close()
        return
      }

      this.tunnel = tunnel
      tunnel.onExit((why) => void this.onTunnelExit(why, provider))
      this.gateway.setPublicUrl(tunnel.publicUrl)
      // A quick tunnel comes back under a new hostname; tokens do not name the host, so the link moves with it.
      await this.patchOwnRow({
        public_url: tunnel.publicUrl,
        share_url: rehost(this.readOwnRow()?.share_url ?? null, tunnel.publicUrl),
        tunnel_name: tunnel.name ?? null,
        tunnel_pid: tunnel.pid ?? null,
        tunnel_start_time: tunnel.pid ? procStartTime(tunnel.pid) : null,
      })
      this.event(`tunnel reopened: ${tunnel.publicUrl}`)
    } catch (error) {
      this.event(`tunnel reopen failed: ${(error as Error).message}`)
      await this.stop('crash')
    }
  }

  /** Tears down in order (tunnel, gateway, dev server), removes the row, records the stop. Idempotent. */
  stop(reason: StopReason): Promise<void> {
    if (this.stopping) return this.stopping
    this.stopping = (async () => {
      this.event(`stopping (${reason})`)
      await patchRow(this.paths, this.spec.id, {status: 'stopping'}).catch(() => null)
      await this.teardown()
      const row = await removeRow(this.paths, this.spec.id).catch(() => null)
      // An orphan (row removed behind our back) still balances its start entry, if the log is still there.
      if (this.ready && (row || (this.orphaned && existsSync(this.paths.audit)))) {
        await appendAudit(this.paths, {event: 'stop', preview_id: this.spec.id, reason, ...(row ? {} : {row_missing: true})}).catch(
          () => null,
        )
      }
      this.event('stopped')
      await new Promise<void>((resolve) => {
        this.log.end(resolve)
      })
      this.resolveDone()
    })()
    return this.stopping
  }

  private async teardown(): Promise<void> {
    if (this.expiryTimer) clearTimeout(this.expiryTimer)
    if (this.idleTimer) clearInterval(this.idleTimer)
    unwatchFile(this.paths.state)
    const tunnel = this.tunnel
    this.tunnel = null
    if (tunnel) await tunnel.close().catch((error: Error) => this.event(`tunnel close: ${error.message}`))
    const gateway = this.gateway
    this.gateway = null
    if (gateway) await gateway.close().catch((error: Error) => this.event(`gateway close: ${error.message}`))
    await this.requestLog?.flush()
    // The dev server (ours or adopted), and an install still running at a failed start.
    for (const pid of new Set([this.devPid, this.child?.pid].filter((p): p is number => Boolean(p)))) {
      await killGroup(pid, {extraPids: processTree(pid)})
    }
  }

  /** True while the dev server's leader is alive (for tests and status). */
  devServerAlive(): boolean {
    return isAlive(this.devPid)
  }
}

/** The same link on another origin (after a tunnel came back under a new hostname). */
export function rehost(link: string | null, publicUrl: string): string | null {
  if (!link) return link
  const u = new URL(link)
  const origin = new URL(publicUrl)
  u.protocol = origin.protocol
  u.host = origin.host
  return u.toString()
}

/** Turns any error into the JSON-safe shape sent over IPC. */
export function serializeError(error: unknown): FailedMessage['error'] {
  if (isPreviewError(error)) {
    return {code: error.code, details: error.details, hint: error.hint ?? null, kind: error.kind, message: error.message}
  }

  return {code: 'INTERNAL', details: [], hint: null, kind: 'runtime', message: (error as Error)?.message ?? String(error)}
}
