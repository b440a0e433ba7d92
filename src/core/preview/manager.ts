// PreviewManager: the programmatic API behind every command (start, list, status, stop, list-commands).
import {randomBytes} from 'node:crypto'
import {closeSync, existsSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, type Dirent} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import net from 'node:net'
import path from 'node:path'
import {InvalidInput, PreviewError, PreviewNotFound, StartFailed} from '../errors.js'
import {ensureDir} from '../fsutil.js'
import {isAlive, killGroup, killPid, procStartTime, run, spawnGroup, spawnNodeDetached, waitForExit} from '../process.js'
import {appendAudit} from './audit.js'
import {loadConfig, type PreviewConfig} from './config.js'
import {redactUrl} from './redact.js'
import {chooseCommand, discoverCommands, type Discovery} from './discovery.js'
import {parseDuration} from './duration.js'
import {revokeLinks, shareLink, type ShareResult} from './links.js'
import {logFile, sddPaths, type SddPaths} from './paths.js'
import {ADOPT_WRAPPER, devServerEnv, type AdoptedDevServer} from './dev-server.js'
import {installCommand} from './install.js'
import {SUPERVISOR_SCRIPT, takePrewarmed} from './prewarm.js'
import {loadJwtKey, mintCredential, type Credential} from './credentials.js'
import type {SupervisorInput} from './supervisor-main.js'
import {inUseByHost} from '../host/status-file.js'
import {excludeSdd, isBranch, listWorktrees, pullBranch, removeWorktree, repoRoot, resolveSandbox} from './sandbox.js'
import {findRow, patchRow, readState, removeRow} from './state.js'
import type {ReadyMessage, Supervisor, SupervisorMessage, SupervisorSpec} from './supervisor.js'
import {AUTH_MODES, PROVIDERS, type AuthMode, type PreviewRow, type StopReason} from './types.js'

export const DEFAULTS = {
  auth: 'token' as AuthMode,
  expire: '4h',
  maxExpire: '24h',
  maxRestarts: 3,
  provider: 'auto',
  readyTimeout: '30s',
}

/** How long `preview stop` waits for a supervisor to tear down before cleaning up itself. */
export const STOP_WAIT_MS = 15_000

export interface ManagerOptions {
  /** Directory the user is in (default for --cwd resolution and the repo root). */
  cwd: string
  env?: NodeJS.ProcessEnv
}

export interface StartOptions {
  cwd?: string | undefined
  command?: string | undefined
  provider?: string | undefined
  auth?: string | undefined
  expire?: string | undefined
  readyTimeout?: string | undefined
  /** Preview this branch, tag or commit in a worktree of its own. */
  ref?: string | undefined
  /** Skip the dependency install of a fresh worktree. */
  noInstall?: boolean
  /** Called for each step of the start (discover, sandbox, install, dev server, port, tunnel, link). */
  onProgress?: (step: string, detail: string) => void
  /** Idle scale-to-zero TTL (off unless given here or as idle_ttl in preview.yaml). */
  idleTtl?: string | undefined
  /** Run the supervisor in this process (until stop); otherwise a detached supervisor process. */
  foreground?: boolean
}

export interface StartResult {
  row: PreviewRow
  /** The one URL with its secret (token or password); printed once, never logged. */
  shareUrl: string
  warnings: string[]
  /** Only in foreground mode: resolves when the preview has stopped. */
  supervisor?: Supervisor
}

export interface StopResult {
  preview_id: string
  stopped: boolean
  reason: StopReason
  /** true when the supervisor was gone and stop cleaned up by itself. */
  cleaned_up: boolean
}

export type ListedRow = PreviewRow

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

function newPreviewId(): string {
  return `p-${randomBytes(4).toString('hex')}`
}

export class PreviewManager {
  readonly cwd: string
  readonly env: NodeJS.ProcessEnv

  constructor(opts: ManagerOptions) {
    this.cwd = path.resolve(opts.cwd)
    this.env = opts.env ?? process.env
  }

  /** The .sdd directory: PREVIEW_SDD_DIR, else <repo root>/.sdd. */
  async locate(dir = this.cwd, knownRoot?: string): Promise<{root: string | null; sddDir: string; paths: SddPaths}> {
    if (this.env.PREVIEW_SDD_DIR) {
      const sddDir = path.resolve(this.env.PREVIEW_SDD_DIR)
      let root: string | null = knownRoot ?? null
      try {
        root ??= await repoRoot(dir)
      } catch {
        root = null
      }

      return {paths: sddPaths(sddDir), root, sddDir}
    }

    const root = knownRoot ?? (await repoRoot(dir))
    const sddDir = path.join(root, '.sdd')
    return {paths: sddPaths(sddDir), root, sddDir}
  }

  /** The .sdd paths for this directory (for commands that read the tree directly: audit, metrics). */
  async sddPaths(): Promise<SddPaths> {
    return (await this.locate()).paths
  }

  /** Every candidate dev command in order, without starting anything. */
  async listCommands(opts: {cwd?: string | undefined; command?: string | undefined}): Promise<Discovery & {cwd: string}> {
    const dir = opts.cwd ? path.resolve(this.cwd, opts.cwd) : this.cwd
    const {paths} = await this.locate(dir)
    const config = loadConfig(paths)
    return {...discoverCommands({configCommand: config.command, configFile: paths.config, cwd: dir, explicit: opts.command}), cwd: dir}
  }

  /** Starts a preview: validates input, picks the sandbox and command, runs the supervisor, returns the row and link. */
  async start(opts: StartOptions): Promise<StartResult> {
    const progress = opts.onProgress ?? (() => {})
    const explicitCwd = opts.cwd ? path.resolve(this.cwd, opts.cwd) : undefined
    // Not a directory / not a repo: exit 2 before anything starts (and the answer serves locate too).
    const explicitRoot = explicitCwd ? await repoRoot(explicitCwd) : undefined
    const {paths, root, sddDir} = await this.locate(explicitCwd ?? this.cwd, explicitRoot)
    const config = loadConfig(paths)
    const settings = resolveSettings(opts, config)
    if (root) excludeSdd(root)
    const sandbox = await resolveSandbox({cwd: explicitCwd, paths, ref: opts.ref, root: root ?? this.cwd})
    progress('sandbox', sandbox.sessionId ? `${sandbox.backend}/${sandbox.sessionId}` : sandbox.cwd)
    try {
      const discovery = discoverCommands({configCommand: config.command, configFile: paths.config, cwd: sandbox.cwd, explicit: opts.command})
      const chosen = chooseCommand(discovery)
      progress('discover', `${chosen.command} (${chosen.source})`)
      const now = Math.floor(Date.now() / 1000)
      const spec: SupervisorSpec = {
        authMode: settings.auth,
        command: chosen.command,
        commit: sandbox.commit,
        install: installCommand(sandbox.cwd, {configured: config.install, skip: opts.noInstall ?? false}),
        ref: sandbox.ref,
        createdAtEpoch: now,
        cwd: sandbox.cwd,
        env: Object.fromEntries(Object.entries(this.env).filter((e): e is [string, string] => typeof e[1] === 'string')),
        expiresAtEpoch: now + settings.expireSeconds,
        id: newPreviewId(),
        idleTtlMs: settings.idleTtlSeconds === null ? null : settings.idleTtlSeconds * 1000,
        maxRestarts: config.max_restarts ?? DEFAULTS.maxRestarts,
        port: await freePort(),
        provider: settings.provider,
        providers: config.providers,
        readyTimeoutMs: settings.readyTimeoutSeconds * 1000,
        sandboxBackend: sandbox.backend,
        sandboxSessionId: sandbox.sessionId,
        sddDir,
      }
      if (opts.foreground) {
        // Loaded on demand: the supervisor pulls in the gateway and the tunnel drivers, which list/stop never need.
        const {Supervisor} = await import('./supervisor.js')
        const supervisor = new Supervisor(spec, progress, this.mint(spec, paths))
        const ready = await supervisor.start()
        return {row: ready.row, shareUrl: ready.shareUrl, supervisor, warnings: ready.warnings}
      }

      const ready = await this.spawnSupervisor(spec, paths, progress)
      return {row: ready.row, shareUrl: ready.shareUrl, warnings: ready.warnings}
    } catch (error) {
      if (sandbox.created && root) await removeWorktree(root, sandbox.cwd)
      throw error
    }
  }

  /** Spawns the detached supervisor and waits on IPC for ready or failed. */
  private spawnSupervisor(spec: SupervisorSpec, paths: SddPaths, progress: (step: string, detail: string) => void): Promise<ReadyMessage> {
    ensureDir(paths.logs)
    const prewarmed = takePrewarmed()
    // The dev server starts now, from here, while the supervisor finishes booting: its own start-up overlaps
    // the supervisor's instead of following it. It writes into the log; the supervisor adopts it. (With an
    // install to run first, the supervisor does everything itself.)
    const adopted = spec.install ? null : this.startDevServerForAdoption(spec, paths)
    if (adopted) spec.adopt = adopted
    const child =
      prewarmed ??
      (() => {
        // The supervisor's own stdout/stderr (crash traces) go to the preview's log file.
        const fd = openSync(logFile(paths, spec.id), 'a', 0o600)
        const spawned = spawnNodeDetached(SUPERVISOR_SCRIPT, [spec.id], {cwd: spec.cwd, env: this.env, logFd: fd})
        closeSync(fd)
        return spawned
      })()
    return new Promise<ReadyMessage>((resolve, reject) => {
      let settled = false
      const finish = (fn: () => void) => {
        if (settled) return
        settled = true
        child.removeAllListeners()
        if (child.connected) child.disconnect()
        child.unref()
        fn()
      }

      child.on('message', (msg: SupervisorMessage) => {
        if (msg.type === 'progress') progress(msg.step, msg.detail)
        else if (msg.type === 'ready') finish(() => resolve(msg))
        else {
          const e = msg.error
          finish(() => reject(new PreviewError(e.code, e.message, {details: e.details, kind: e.kind, ...(e.hint ? {hint: e.hint} : {})})))
        }
      })
      child.once('exit', (code, signal) => {
        // A supervisor that died before taking over must not leave the dev server started for it.
        if (adopted) void killGroup(adopted.pid, {startTime: adopted.startTime})
        finish(() =>
          reject(new StartFailed(`The supervisor exited (${signal ?? `code ${code}`}) before the preview was ready.`, [], `See ${logFile(paths, spec.id)}.`)),
        )
      })
      child.once('error', (error) => {
        if (adopted) void killGroup(adopted.pid, {startTime: adopted.startTime})
        finish(() => reject(new StartFailed(`Could not start the supervisor: ${error.message}`)))
      })
      child.send({spec, type: 'spec'} satisfies SupervisorInput)
      // Minted here while the supervisor boots and starts the dev server: the token names no host, and jose then
      // never loads in a long-lived supervisor.
      this.mint(spec, paths).then(
        (credential) => {
          if (!settled && child.connected) child.send({credential, type: 'credential'} satisfies SupervisorInput)
        },
        (error: Error) => finish(() => reject(new StartFailed(`Could not mint the link: ${error.message}`))),
      )
    })
  }

  /** Starts the dev server for the supervisor to adopt: its own process group, its output into the log file. */
  private startDevServerForAdoption(spec: SupervisorSpec, paths: SddPaths): AdoptedDevServer | null {
    const fd = openSync(logFile(paths, spec.id), 'a', 0o600)
    try {
      const logOffset = fstatSync(fd).size
      const dev = spawnGroup('/bin/sh', ['-c', ADOPT_WRAPPER, 'sh', spec.command], {
        cwd: spec.cwd,
        env: devServerEnv(spec.env, spec.port),
        stdio: ['ignore', fd, fd],
      })
      dev.on('error', () => {}) // the supervisor sees it exit and reports it
      dev.unref()
      return dev.pid ? {logOffset, pid: dev.pid, startTime: procStartTime(dev.pid)} : null
    } finally {
      closeSync(fd)
    }
  }

  /** The first link's credential for a preview about to start. */
  private mint(spec: SupervisorSpec, paths: SddPaths): Promise<Credential> {
    return mintCredential({authMode: spec.authMode, expiresAtEpoch: spec.expiresAtEpoch, key: loadJwtKey(paths), previewId: spec.id})
  }

  /** Rows with their liveness reconciled: a row whose supervisor died shows as `crashed`. */
  async list(opts: {showSecrets?: boolean} = {}): Promise<ListedRow[]> {
    const {paths} = await this.locate()
    return readState(paths).previews.map((row) => present(reconcile(row), opts.showSecrets ?? false))
  }

  async status(id: string, opts: {showSecrets?: boolean} = {}): Promise<ListedRow> {
    const {paths} = await this.locate()
    const row = findRow(paths, id)
    if (!row) throw new PreviewNotFound(id)
    return present(reconcile(row), opts.showSecrets ?? false)
  }

  /** Mints another link to a running preview (a `link` audit entry). */
  async share(opts: {id: string; expire?: string | undefined; auth?: string | undefined}): Promise<ShareResult> {
    const {paths} = await this.locate()
    if (opts.auth !== undefined && !AUTH_MODES.includes(opts.auth as AuthMode)) {
      throw new InvalidInput(`Unknown auth mode "${opts.auth}".`, `Use one of: ${AUTH_MODES.join(', ')}.`)
    }

    const expireSeconds = resolveExpire(opts.expire, loadConfig(paths))
    return shareLink({authMode: opts.auth as AuthMode | undefined, expireSeconds, id: opts.id, paths})
  }

  /** Revokes one link (by jti) or all of a preview's links; the running gateway refuses them within a second. */
  async revoke(opts: {id: string; jti?: string | undefined; all?: boolean}): Promise<{revoked: string[]}> {
    const {paths} = await this.locate()
    return revokeLinks({all: opts.all ?? false, id: opts.id, jti: opts.jti, paths})
  }

  /**
   * Restarts a preview's dev server behind the same gateway, tunnel and links. With `pull`, a branch preview's
   * worktree is first brought to the branch tip (fetching its upstream when it has one).
   */
  async restart(opts: {id: string; pull?: boolean; timeoutMs?: number}): Promise<PreviewRow> {
    const {paths, root} = await this.locate()
    const row = findRow(paths, opts.id)
    if (!row) throw new PreviewNotFound(opts.id)
    if (!isAlive(row.supervisor_pid, row.supervisor_start_time)) {
      throw new PreviewError('PREVIEW_NOT_RUNNING', `Preview ${opts.id} has no running supervisor (${row.status === 'crashed' ? 'crashed' : 'gone'}).`, {
        hint: `Run \`preview stop ${opts.id}\` and start it again.`,
      })
    }

    const patch: Partial<PreviewRow> = {restart_requested_at_ms: Date.now()}
    if (opts.pull) {
      if (!row.ref || !root || !(await isBranch(root, row.ref))) {
        throw new InvalidInput(`--pull needs a preview of a branch; ${opts.id} ${row.ref ? `previews ${row.ref}, which is not a branch` : 'was not started with --ref'}.`, 'Start it with `preview start --ref BRANCH`, or restart without --pull.')
      }

      patch.commit = await pullBranch(root, row.cwd, row.ref)
    }

    await patchRow(paths, opts.id, patch)
    killPid(row.supervisor_pid!, 'SIGUSR2')
    const deadline = Date.now() + (opts.timeoutMs ?? RESTART_WAIT_MS)
    const requested = patch.restart_requested_at_ms as number
    while (Date.now() < deadline) {
      const now = findRow(paths, opts.id)
      if (!now) throw new StartFailed(`The dev server of ${opts.id} did not come back after the restart; the preview stopped.`, [], `See ${row.log_file ?? 'its log'} (preview logs ${opts.id} is gone with it).`)
      if (Number(now.restarted_at_ms ?? 0) >= requested) return present(now, false)
      await sleep(100)
    }

    throw new StartFailed(`The restart of ${opts.id} did not finish within ${Math.round((opts.timeoutMs ?? RESTART_WAIT_MS) / 1000)}s.`, [], `Run \`preview logs ${opts.id}\` to see why.`)
  }

  /** The last `lines` lines of a preview's log (dev-server output and the supervisor's own [preview] lines). */
  async logs(opts: {id: string; lines?: number}): Promise<{file: string; lines: string[]; bytes: number}> {
    const {paths} = await this.locate()
    const file = findRow(paths, opts.id)?.log_file ?? logFile(paths, opts.id)
    if (!existsSync(file)) throw new PreviewNotFound(opts.id)
    const text = readFileSync(file)
    return {bytes: text.length, file, lines: tailLines(text.toString('utf8'), opts.lines ?? 100)}
  }

  /**
   * Follows a log: calls `onText` with what is appended, across dev-server restarts (one file), until the
   * preview is gone or `signal` aborts. Resolves when following ends.
   */
  async followLogs(opts: {id: string; signal?: AbortSignal; onText: (text: string) => void; pollMs?: number; fromByte?: number}): Promise<void> {
    const {paths} = await this.locate()
    const file = findRow(paths, opts.id)?.log_file ?? logFile(paths, opts.id)
    if (!existsSync(file)) throw new PreviewNotFound(opts.id)
    // From where `logs` stopped reading, so nothing written in between is lost.
    let offset = opts.fromByte ?? statSync(file).size
    const drain = () => {
      const size = statSync(file).size
      if (size < offset) offset = 0 // truncated: start over
      if (size === offset) return
      const fd = openSync(file, 'r')
      try {
        const buf = Buffer.alloc(size - offset)
        readSync(fd, buf, 0, buf.length, offset)
        offset = size
        opts.onText(buf.toString('utf8'))
      } finally {
        closeSync(fd)
      }
    }

    while (!opts.signal?.aborted) {
      await sleep(opts.pollMs ?? 200)
      drain()
      if (!findRow(paths, opts.id)) {
        drain()
        return
      }
    }
  }

  /** What cleanup would remove: worktrees no preview uses, and logs of previews that are gone. */
  async cleanupPlan(): Promise<CleanupPlan> {
    const {paths} = await this.locate()
    const rows = readState(paths).previews
    const host = inUseByHost(paths) // a running `preview serve` keeps its worktrees and logs
    const used = new Set([...rows.map((r) => path.resolve(r.cwd)), ...host.worktrees])
    const ids = new Set(rows.map((r) => r.preview_id))
    const worktrees = listWorktrees(paths)
      .filter((w) => !used.has(path.resolve(w.dir)))
      .map((w) => ({bytes: diskUsage(w.dir), path: w.dir}))
    const logs = existsSync(paths.logs)
      ? readdirSync(paths.logs)
          .filter((f) => f.endsWith('.log') && !ids.has(f.slice(0, -4)) && !host.logs.includes(path.join(paths.logs, f)))
          .map((f) => ({bytes: statSync(path.join(paths.logs, f)).size, path: path.join(paths.logs, f)}))
      : []
    const total = [...worktrees, ...logs].reduce((sum, e) => sum + e.bytes, 0)
    return {logs, total_bytes: total, worktrees}
  }

  /** Removes what cleanupPlan lists (worktrees through git, so git forgets them too). */
  async cleanup(plan: CleanupPlan): Promise<CleanupPlan> {
    const {paths, root} = await this.locate()
    const inUse = new Set([...readState(paths).previews.map((r) => path.resolve(r.cwd)), ...inUseByHost(paths).worktrees])
    const removed: CleanupPlan = {logs: [], total_bytes: 0, worktrees: []}
    for (const w of plan.worktrees) {
      if (inUse.has(path.resolve(w.path))) continue // a preview started meanwhile
      if (root) await removeWorktree(root, w.path)
      if (existsSync(w.path)) rmSync(w.path, {force: true, recursive: true})
      removed.worktrees.push(w)
    }

    if (root) await run('git', ['worktree', 'prune'], {cwd: root, timeoutMs: 30_000})
    for (const l of plan.logs) {
      rmSync(l.path, {force: true})
      removed.logs.push(l)
    }

    removed.total_bytes = [...removed.worktrees, ...removed.logs].reduce((sum, e) => sum + e.bytes, 0)
    return removed
  }

  /** Stops previews: signals each supervisor and waits; cleans up by itself when a supervisor is gone. */
  async stop(opts: {ids?: string[]; all?: boolean}): Promise<StopResult[]> {
    const {paths} = await this.locate()
    const rows = readState(paths).previews
    let ids = opts.ids ?? []
    if (opts.all) ids = rows.map((r) => r.preview_id)
    else if (ids.length === 0) throw new InvalidInput('Nothing to stop: name a preview id or pass --all.', 'Run `preview list` to see ids.')
    for (const id of ids) if (!rows.some((r) => r.preview_id === id)) throw new PreviewNotFound(id)
    return Promise.all(ids.map((id) => stopOne(paths, rows.find((r) => r.preview_id === id)!)))
  }
}

async function stopOne(paths: SddPaths, row: PreviewRow): Promise<StopResult> {
  const id = row.preview_id
  const supervisorAlive = isAlive(row.supervisor_pid, row.supervisor_start_time)
  if (supervisorAlive && row.supervisor_pid) {
    killPid(row.supervisor_pid, 'SIGTERM')
    await waitForExit(row.supervisor_pid, STOP_WAIT_MS, row.supervisor_start_time)
  }

  // Whatever the supervisor did not finish (or could not, being dead), do here.
  const left = findRow(paths, id)
  if (!left) return {cleaned_up: false, preview_id: id, reason: 'operator', stopped: true}
  if (left.supervisor_pid && isAlive(left.supervisor_pid, left.supervisor_start_time)) {
    await killGroup(left.supervisor_pid, {graceMs: 500, startTime: left.supervisor_start_time})
    killPid(left.supervisor_pid, 'SIGKILL')
  }

  if (left.tunnel_pid) await killGroup(left.tunnel_pid, {startTime: left.tunnel_start_time})
  // The dev server leads its own process group (spawned detached): its pid is the group id.
  if (left.process_pid) await killGroup(left.process_pid, {startTime: left.process_start_time})
  const removed = await removeRow(paths, id)
  const reason: StopReason = supervisorAlive ? 'operator' : 'crash'
  // Only a preview that reached running has a start entry to balance.
  if (removed && removed.status !== 'starting') await appendAudit(paths, {cleaned_up_by: 'stop', event: 'stop', preview_id: id, reason})
  return {cleaned_up: true, preview_id: id, reason, stopped: true}
}

export interface CleanupPlan {
  worktrees: Array<{path: string; bytes: number}>
  logs: Array<{path: string; bytes: number}>
  total_bytes: number
}

/** How long `preview restart` waits for the dev server to come back. */
export const RESTART_WAIT_MS = 120_000

function tailLines(text: string, n: number): string[] {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return n <= 0 ? [] : lines.slice(-n)
}

/** Bytes under a directory (symlinks not followed), bounded to 1,000,000 entries. */
function diskUsage(dir: string): number {
  let total = 0
  let seen = 0
  const stack = [dir]
  while (stack.length > 0 && seen < 1_000_000) {
    const current = stack.pop()!
    let entries: Dirent[]
    try {
      entries = readdirSync(current, {withFileTypes: true})
    } catch {
      continue
    }

    for (const e of entries) {
      seen += 1
      const full = path.join(current, e.name)
      if (e.isDirectory()) stack.push(full)
      else {
        try {
          total += lstatSync(full).size
        } catch {
          // vanished
        }
      }
    }
  }

  return total
}

/** A row whose supervisor is gone is `crashed`, whatever it last said. */
function reconcile(row: PreviewRow): PreviewRow {
  if (row.status !== 'crashed' && !isAlive(row.supervisor_pid, row.supervisor_start_time)) return {...row, status: 'crashed'}
  return row
}

function present(row: PreviewRow, showSecrets: boolean): PreviewRow {
  return showSecrets ? row : {...row, share_url: redactUrl(row.share_url)}
}

/** --expire (or config `expire`, or 4h) in seconds; above max_expire (default 24h) is bad input. */
export function resolveExpire(flag: string | undefined, config: PreviewConfig): number {
  const maxExpireSeconds = parseDuration(config.max_expire ?? DEFAULTS.maxExpire, 'max_expire in .sdd/preview.yaml')
  const expireText = flag ?? config.expire ?? DEFAULTS.expire
  const expireSeconds = parseDuration(expireText, '--expire')
  if (expireSeconds > maxExpireSeconds) {
    throw new InvalidInput(
      `--expire ${expireText} is longer than the maximum of ${config.max_expire ?? DEFAULTS.maxExpire}.`,
      'Use a shorter --expire, or raise max_expire in .sdd/preview.yaml.',
    )
  }

  return expireSeconds
}

/** Validates flags against config and defaults; every bad value is an InvalidInput (exit 2). */
export function resolveSettings(opts: StartOptions, config: PreviewConfig) {
  const provider = opts.provider ?? config.provider ?? DEFAULTS.provider
  if (provider !== 'auto' && !PROVIDERS.includes(provider as never)) {
    throw new InvalidInput(`Unknown provider "${provider}".`, `Use one of: auto, ${PROVIDERS.join(', ')}.`)
  }

  const auth = opts.auth ?? config.auth ?? DEFAULTS.auth
  if (!AUTH_MODES.includes(auth as AuthMode)) throw new InvalidInput(`Unknown auth mode "${auth}".`, `Use one of: ${AUTH_MODES.join(', ')}.`)
  const expireSeconds = resolveExpire(opts.expire, config)

  const readyTimeoutSeconds = parseDuration(opts.readyTimeout ?? config.ready_timeout ?? DEFAULTS.readyTimeout, '--ready-timeout')
  const idleText = opts.idleTtl ?? config.idle_ttl
  const idleTtlSeconds = idleText === undefined ? null : parseDuration(idleText, '--idle-ttl')
  return {auth: auth as AuthMode, expireSeconds, idleTtlSeconds, provider, readyTimeoutSeconds}
}
