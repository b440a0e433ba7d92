// PreviewManager: the programmatic API behind every command (start, list, status, stop, list-commands).
import {freePort} from '../netprobe.js'
import {randomBytes} from 'node:crypto'
import {closeSync, existsSync, fstatSync, lstatSync, openSync, readdirSync, rmSync, statSync, type Dirent} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'
import path from 'node:path'
import {InvalidInput, PreviewError, PreviewNotFound, StartFailed, isPreviewError} from '../errors.js'
import {ensureDir} from '../fsutil.js'
import {isAlive, killGroup, killPid, procStartTime, run, spawnGroup, spawnNodeDetached, waitForExit} from '../process.js'
import {appendAudit, readAuditLines, type AuditEntry} from '../records/audit.js'
import {loadConfig, type PreviewConfig} from './config.js'
import {redactUrl} from '../records/redact.js'
import {chooseCommand, discoverCommands, runnerNote, scriptPlan, type Discovery} from '../discovery/commands.js'
import {resolvePreviewId} from './defaults.js'
import {parseDuration} from './duration.js'
import {followLog, readLogTail} from './logs.js'
import {revokeLinks, shareLink, type ShareResult} from './links.js'
import {logFile, sddPaths, type SddPaths} from '../records/paths.js'
import {ADOPT_WRAPPER, devServerEnv, type AdoptedDevServer} from '../supervisor/dev-server.js'
import {installCommand} from '../sandbox/install.js'
import {SUPERVISOR_SCRIPT, takePrewarmed} from '../supervisor/prewarm.js'
import {loadJwtKey, mintCredential, type Credential} from '../records/credentials.js'
import type {SupervisorInput} from '../supervisor/supervisor-main.js'
import {inUseByHost} from '../host/status-file.js'
import {copyCandidates, copyUntracked} from '../sandbox/copy.js'
import {checkAttachPort, preflightTunnel} from './preflight.js'
import {
  HEAD_WORKTREE,
  excludeSdd,
  isBranch,
  listWorktrees,
  planDir,
  pullBranch,
  removeWorktree,
  repoRoot,
  resolveSandbox,
  treePosition,
  type Sandbox,
} from '../sandbox/resolve.js'
import {findRow, patchRow, readState, readStateForCleanup, removeRow} from '../records/state.js'
import type {ReadyMessage, Supervisor, SupervisorMessage, SupervisorSpec} from '../supervisor/supervisor.js'
import {AUTH_MODES, PROVIDERS, type AuthMode, type PreviewRow, type StopReason} from '../records/types.js'

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
  /** Told the dev server's log file as soon as it is known (the terminal progress line shows its latest line). */
  onLogFile?: (file: string) => void
  /** Idle scale-to-zero TTL (off unless given here or as idle_ttl in preview.yaml). */
  idleTtl?: string | undefined
  /** Run the supervisor in this process (until stop); otherwise a detached supervisor process. */
  foreground?: boolean
  /** Run the repository's working tree as it is, uncommitted changes included. */
  workingCopy?: boolean | undefined
  /** Front a server that already listens on 127.0.0.1:PORT (no dev command, no worktree). */
  attach?: string | undefined
}

/** What a start serves, for the `Serving <branch>@<sha7> from <where>` line. */
export interface Served {
  branch: string | null
  ref: string | null
  commit: string | null
  where: string
}

function served(sandbox: Sandbox): Served {
  return {branch: sandbox.branch, commit: sandbox.commit, ref: sandbox.ref, where: sandbox.where}
}

export interface StartResult {
  row: PreviewRow
  /** The one URL with its secret (token or password); printed once, never logged. */
  shareUrl: string
  served: Served
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

/** A preview that is gone, as `list --all` shows it (from its audit entries). */
export interface EndedPreview {
  preview_id: string
  status: 'ended'
  stop_reason: StopReason
  /** When it ended (the stop entry's ts) and started. */
  ended_at: string
  ended_at_epoch: number
  started_at_epoch: number | null
  tunnel_provider: string | null
  auth_mode: string | null
  command: string | null
  sandbox_backend: string | null
  branch: string | null
  commit: string | null
}

/** Which of `files` git tracks in a worktree (a tracked .env is served as committed, never overwritten). */
async function trackedFiles(dir: string, files: string[]): Promise<Set<string>> {
  const safe = files.filter((f) => f && !path.isAbsolute(f) && !f.split(/[\\/]/).includes('..'))
  if (safe.length === 0) return new Set()
  const res = await run('git', ['ls-files', '-z', '--', ...safe.map((f) => `:(literal)${f}`)], {cwd: dir, timeoutMs: 10_000})
  return new Set(res.exitCode === 0 ? res.stdout.split('\0').filter(Boolean) : [])
}

/** `--attach` with flags that only mean something for a dev server preview runs: exit 2. */
function checkAttachFlags(opts: StartOptions): void {
  const clash = (
    [
      ['--ref', opts.ref !== undefined],
      ['--command', opts.command !== undefined],
      ['--idle-ttl', opts.idleTtl !== undefined],
      ['--working-copy', opts.workingCopy === true],
    ] as const
  ).filter(([, set]) => set)
  if (clash.length > 0) {
    throw new InvalidInput(
      `--attach does not go with ${clash.map(([name]) => name).join(', ')}: an attached server is not started, restarted or put to sleep by preview.`,
      'Drop those flags to share the server that runs, or drop --attach to let preview run the code.',
    )
  }
}

/**
 * A failed start's error, made followable: the preview id and its kept log (when the supervisor got as far as
 * writing one), and a hint that never sends the user to a worktree the rollback just removed.
 */
function followable(error: PreviewError, ctx: {id: string; logFile: string | null; removed: Sandbox | null}): void {
  if (ctx.logFile && existsSync(ctx.logFile)) {
    error.previewId = ctx.id
    error.logFile = ctx.logFile
  }

  const gone = ctx.removed
  if (gone && error.hint && /worktree/i.test(error.hint)) {
    const prefix = path.relative(gone.top, gone.cwd)
    error.hint = `The worktree was removed with the rollback. To run it by hand: \`git worktree add /tmp/preview-try ${gone.commit?.slice(0, 12) ?? 'HEAD'}\`, then run the command in /tmp/preview-try${prefix ? `/${prefix}` : ''}; or start with --working-copy.`
  }
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

  /** `id` when given, else the only running preview's (bad input naming them when there are none or several). */
  async resolveId(id: string | undefined, command: string): Promise<string> {
    return resolvePreviewId((await this.locate()).paths, id, command)
  }

  /** Every candidate dev command in order, without starting anything: looked for where `start` would run. */
  async listCommands(opts: {
    cwd?: string | undefined
    command?: string | undefined
    ref?: string | undefined
    workingCopy?: boolean | undefined
  }): Promise<Discovery & {cwd: string}> {
    checkStartInput(opts, this.cwd)
    const explicitCwd = opts.cwd ? path.resolve(this.cwd, opts.cwd) : undefined
    const {paths, root} = await this.locate(explicitCwd ?? this.cwd)
    const config = loadConfig(paths)
    const dir = await planDir({
      cwd: explicitCwd,
      paths,
      ref: opts.ref,
      root: root ?? this.cwd,
      startDir: this.cwd,
      workingCopy: opts.workingCopy,
    })
    const found = discoverCommands({
      configCommand: config.command,
      configFile: paths.config,
      cwd: dir,
      env: this.env,
      explicit: opts.command,
    })
    for (const c of found.candidates) {
      const note = runnerNote(scriptPlan(c, {dir, env: this.env, initCwd: this.cwd, setting: config.script_runner}))
      if (note) c.runner = note
    }

    return {...found, cwd: dir}
  }

  /** Starts a preview: validates input, picks the sandbox and command, runs the supervisor, returns the row and link. */
  async start(opts: StartOptions): Promise<StartResult> {
    const progress = opts.onProgress ?? (() => {})
    checkStartInput(opts, this.cwd)
    const explicitCwd = opts.cwd ? path.resolve(this.cwd, opts.cwd) : undefined
    const attaching = opts.attach !== undefined
    if (attaching) checkAttachFlags(opts)

    // Not a directory / not a repo: exit 2 before anything starts (and the answer serves locate too).
    const explicitRoot = explicitCwd ? await repoRoot(explicitCwd) : undefined
    const {paths, root, sddDir} = await this.locate(explicitCwd ?? this.cwd, explicitRoot)
    const config = loadConfig(paths)
    const settings = resolveSettings(attaching ? {...opts, idleTtl: undefined} : opts, config)
    if (attaching) settings.idleTtlSeconds = null // config idle_ttl means nothing for a server preview does not run
    const attachPort = attaching ? await checkAttachPort(opts.attach!) : null
    // The tunnel is checked before anything starts: a missing binary or setting fails now, not after the install.
    const provider = await preflightTunnel(settings.provider, this.env, config.providers)
    if (root) excludeSdd(root)
    const warnings: string[] = []
    const sandbox: Sandbox = attaching
      ? {
          backend: 'attached',
          branch: null,
          commit: null,
          created: false,
          cwd: explicitCwd ?? this.cwd,
          leftOut: 0,
          owned: false,
          ref: null,
          sessionId: null,
          top: explicitCwd ?? this.cwd,
          where: `the server on 127.0.0.1:${attachPort}`,
        }
      : await resolveSandbox({
          cwd: explicitCwd,
          inUse: readState(paths)
            .previews.filter((r) => isAlive(r.supervisor_pid, r.supervisor_start_time))
            .map((r) => path.resolve(r.cwd)),
          paths,
          ref: opts.ref,
          root: root ?? this.cwd,
          startDir: this.cwd,
          workingCopy: opts.workingCopy,
        })
    progress('sandbox', sandbox.sessionId ? `${sandbox.backend}/${sandbox.sessionId}` : sandbox.cwd)
    if (sandbox.leftOut > 0) {
      warnings.push(
        `${sandbox.leftOut} file${sandbox.leftOut === 1 ? ' has' : 's have'} uncommitted changes that this preview does not include (it serves the last commit); pass --working-copy to serve them.`,
      )
    }

    const id = newPreviewId()
    let spawned = false
    try {
      if (sandbox.backend === 'worktree') warnings.push(...(await this.copyInto(sandbox, paths, config, progress)))

      const chosen = attaching
        ? {command: `(attached to 127.0.0.1:${attachPort})`, source: '--attach'}
        : chooseCommand(
            discoverCommands({
              configCommand: config.command,
              configFile: paths.config,
              cwd: sandbox.cwd,
              env: this.env,
              explicit: opts.command,
              firstOnly: true,
            }),
          )
      progress('discover', `${chosen.command} (${chosen.source})`)
      // A package.json script of an npm project runs without npm (its start-up is most of `npm run dev`'s).
      const plan = scriptPlan(chosen, {dir: sandbox.cwd, env: this.env, initCwd: this.cwd, setting: config.script_runner})
      const now = Math.floor(Date.now() / 1000)
      const spec: SupervisorSpec = {
        attachPort,
        authMode: settings.auth,
        branch: sandbox.branch,
        command: chosen.command,
        commit: sandbox.commit,
        install: attaching
          ? null
          : installCommand(sandbox.cwd, {configured: config.install, skip: opts.noInstall ?? false, stale: sandbox.reinstall ?? false}),
        ref: sandbox.ref,
        createdAtEpoch: now,
        cwd: sandbox.cwd,
        env: Object.fromEntries(Object.entries(this.env).filter((e): e is [string, string] => typeof e[1] === 'string')),
        expiresAtEpoch: now + settings.expireSeconds,
        gatewayBind: config.gateway?.bind ?? null,
        gatewayIdleTimeoutMs: config.gateway?.idle_timeout
          ? parseDuration(config.gateway.idle_timeout, 'gateway.idle_timeout') * 1000
          : null,
        id,
        idleTtlMs: settings.idleTtlSeconds === null ? null : settings.idleTtlSeconds * 1000,
        maxRestarts: config.max_restarts ?? DEFAULTS.maxRestarts,
        port: attachPort ?? (await freePort()),
        provider,
        providers: config.providers,
        readyTimeoutMs: settings.readyTimeoutSeconds * 1000,
        run: plan?.direct ? {command: plan.command, env: plan.env} : null,
        sandboxBackend: sandbox.backend,
        sandboxSessionId: sandbox.sessionId,
        sddDir,
      }
      spawned = true
      opts.onLogFile?.(logFile(paths, spec.id))
      if (opts.foreground) {
        // Loaded on demand: the supervisor pulls in the gateway and the tunnel drivers, which list/stop never need.
        const {Supervisor} = await import('../supervisor/supervisor.js')
        const supervisor = new Supervisor(spec, progress, this.mint(spec, paths))
        const ready = await supervisor.start()
        return {row: ready.row, served: served(sandbox), shareUrl: ready.shareUrl, supervisor, warnings: [...warnings, ...ready.warnings]}
      }

      const ready = await this.spawnSupervisor(spec, paths, progress)
      return {row: ready.row, served: served(sandbox), shareUrl: ready.shareUrl, warnings: [...warnings, ...ready.warnings]}
    } catch (error) {
      const removed = sandbox.created && root !== null
      if (removed) await removeWorktree(root, sandbox.top)
      if (isPreviewError(error)) followable(error, {id, logFile: spawned ? logFile(paths, id) : null, removed: removed ? sandbox : null})
      throw error
    }
  }

  /** Copies the untracked files (`copy:`, default the .env files) into a worktree; returns the warnings. */
  private async copyInto(
    sandbox: Sandbox,
    paths: SddPaths,
    config: PreviewConfig,
    progress: (step: string, detail: string) => void,
  ): Promise<string[]> {
    const from = (await treePosition(this.cwd))?.top ?? this.cwd
    const prefix = path.relative(sandbox.top, sandbox.cwd)
    const tracked = await trackedFiles(sandbox.top, copyCandidates(config.copy, prefix))
    const copied = copyUntracked({
      configFile: paths.config,
      entries: config.copy,
      from,
      overwrite: sandbox.owned,
      prefix,
      to: sandbox.top,
      tracked,
    })
    if (copied.copied.length > 0) progress('copy', copied.copied.join(', '))
    return copied.missing.map((m) => `copy: ${m} is listed in ${paths.config} but does not exist in ${from}; the worktree has none.`)
  }

  /** Spawns the detached supervisor and waits on IPC for ready or failed. */
  private spawnSupervisor(spec: SupervisorSpec, paths: SddPaths, progress: (step: string, detail: string) => void): Promise<ReadyMessage> {
    ensureDir(paths.logs)
    const prewarmed = takePrewarmed()
    // The dev server starts now, from here, while the supervisor finishes booting: its own start-up overlaps
    // the supervisor's instead of following it. It writes into the log; the supervisor adopts it. (With an
    // install to run first, the supervisor does everything itself.)
    const adopted = spec.install || spec.attachPort ? null : this.startDevServerForAdoption(spec, paths)
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
          reject(
            new StartFailed(
              `The supervisor exited (${signal ?? `code ${code}`}) before the preview was ready.`,
              [],
              `See ${logFile(paths, spec.id)}.`,
            ),
          ),
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
      const dev = spawnGroup('/bin/sh', ['-c', ADOPT_WRAPPER, 'sh', spec.run?.command ?? spec.command], {
        cwd: spec.cwd,
        env: devServerEnv({...spec.env, ...spec.run?.env}, spec.port),
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

  /**
   * Previews that ended, from the audit log (newest first): each `stop` entry of a preview no longer in
   * state, with its reason (operator|expiry|crash) and when, and what its `start` entry recorded. With
   * `sinceEpoch`, only those that ended since then, and without the start details (plain `list`'s notice).
   */
  async ended(opts: {sinceEpoch?: number} = {}): Promise<EndedPreview[]> {
    const {paths} = await this.locate()
    const live = new Set(readState(paths).previews.map((r) => r.preview_id))
    const starts = new Map<string, AuditEntry>()
    const stops = new Map<string, AuditEntry>()
    const brief = opts.sinceEpoch !== undefined
    for (const line of readAuditLines(paths)) {
      // Lines are canonical JSON: the event is findable without parsing every link and restart entry.
      if (!line.includes('"event":"stop"') && (brief || !line.includes('"event":"start"'))) continue
      let entry: AuditEntry
      try {
        entry = JSON.parse(line) as AuditEntry
      } catch {
        continue // a damaged line: `preview audit verify` reports it; the rest still lists
      }

      if (entry.event === 'start') starts.set(entry.preview_id, entry)
      else if (entry.event === 'stop') stops.set(entry.preview_id, entry)
    }

    const out: EndedPreview[] = []
    for (const [id, stop] of stops) {
      if (live.has(id)) continue
      if (brief && Date.parse(stop.ts) / 1000 < opts.sinceEpoch!) continue
      const start = starts.get(id)
      const str = (v: unknown) => (typeof v === 'string' ? v : null)
      out.push({
        auth_mode: str(start?.auth_mode),
        branch: str(start?.branch),
        command: str(start?.command),
        commit: str(start?.commit),
        ended_at: stop.ts,
        ended_at_epoch: Math.floor(Date.parse(stop.ts) / 1000),
        preview_id: id,
        sandbox_backend: str(start?.sandbox_backend),
        started_at_epoch: start ? Math.floor(Date.parse(start.ts) / 1000) : null,
        status: 'ended',
        stop_reason: stop.reason ?? 'operator',
        tunnel_provider: str(start?.provider),
      })
    }

    return out.sort((a, b) => b.ended_at_epoch - a.ended_at_epoch)
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
      throw new PreviewError(
        'PREVIEW_NOT_RUNNING',
        `Preview ${opts.id} has no running supervisor (${row.status === 'crashed' ? 'crashed' : 'gone'}).`,
        {
          hint: `Run \`preview stop ${opts.id}\` and start it again.`,
        },
      )
    }

    if (row.sandbox_backend === 'attached') {
      throw new InvalidInput(
        `${opts.id} fronts a server preview did not start (--attach), so there is nothing to restart.`,
        'Restart that server yourself; the preview keeps forwarding to its port.',
      )
    }

    const patch: Partial<PreviewRow> = {restart_requested_at_ms: Date.now()}
    if (opts.pull) {
      // A --ref branch preview, or preview's own HEAD worktree of a branch (never an agent's worktree: it is theirs).
      const ownHead = row.sandbox_backend === 'worktree' && (row.sandbox_session_id ?? '').startsWith(HEAD_WORKTREE)
      const branch = row.ref ?? (ownHead ? (row.branch ?? null) : null)
      if (!branch || !root || !(await isBranch(root, branch))) {
        throw new InvalidInput(
          `--pull needs a preview of a branch; ${opts.id} ${row.ref ? `previews ${row.ref}, which is not a branch` : 'was not started with --ref or from a branch'}.`,
          'Start it with `preview start --ref BRANCH`, or restart without --pull.',
        )
      }

      patch.commit = await pullBranch(root, row.cwd, branch)
    }

    await patchRow(paths, opts.id, patch)
    killPid(row.supervisor_pid!, 'SIGUSR2')
    const deadline = Date.now() + (opts.timeoutMs ?? RESTART_WAIT_MS)
    const requested = patch.restart_requested_at_ms as number
    while (Date.now() < deadline) {
      const now = findRow(paths, opts.id)
      if (!now)
        throw new StartFailed(
          `The dev server of ${opts.id} did not come back after the restart; the preview stopped.`,
          [],
          `See ${row.log_file ?? 'its log'} (preview logs ${opts.id} is gone with it).`,
        )
      if (Number(now.restarted_at_ms ?? 0) >= requested) return present(now, false)
      await sleep(100)
    }

    throw new StartFailed(
      `The restart of ${opts.id} did not finish within ${Math.round((opts.timeoutMs ?? RESTART_WAIT_MS) / 1000)}s.`,
      [],
      `Run \`preview logs ${opts.id}\` to see why.`,
    )
  }

  /** The last `lines` lines of a preview's log (dev-server output and the supervisor's own [preview] lines). */
  async logs(opts: {id: string; lines?: number}): Promise<{file: string; lines: string[]; bytes: number}> {
    return readLogTail((await this.locate()).paths, opts)
  }

  /**
   * Follows a log: calls `onText` with what is appended, across dev-server restarts (one file), until the
   * preview is gone or `signal` aborts. Resolves when following ends.
   */
  async followLogs(opts: {
    id: string
    signal?: AbortSignal
    onText: (text: string) => void
    pollMs?: number
    fromByte?: number
  }): Promise<void> {
    return followLog({...opts, paths: (await this.locate()).paths})
  }

  /** What cleanup would remove: worktrees no preview uses, and logs of previews that are gone. */
  async cleanupPlan(): Promise<CleanupPlan> {
    const {paths} = await this.locate()
    const rows = readStateForCleanup(paths).previews
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
    // The supervisor's events and request files (events.ts, requests.ts) of previews that are gone go with their logs.
    for (const dir of [path.join(paths.runtime, 'events'), path.join(paths.runtime, 'requests')]) {
      if (!existsSync(dir)) continue
      for (const f of readdirSync(dir)) {
        if (f.endsWith('.jsonl') && !ids.has(f.slice(0, -6))) logs.push({bytes: statSync(path.join(dir, f)).size, path: path.join(dir, f)})
      }
    }

    const total = [...worktrees, ...logs].reduce((sum, e) => sum + e.bytes, 0)
    return {logs, total_bytes: total, worktrees}
  }

  /** Removes what cleanupPlan lists (worktrees through git, so git forgets them too). */
  async cleanup(plan: CleanupPlan): Promise<CleanupPlan> {
    const {paths, root} = await this.locate()
    const inUse = new Set([...readStateForCleanup(paths).previews.map((r) => path.resolve(r.cwd)), ...inUseByHost(paths).worktrees])
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
    else if (ids.length === 0) ids = [resolvePreviewId(paths, undefined, 'stop')]
    for (const id of ids) if (!rows.some((r) => r.preview_id === id)) throw new PreviewNotFound(id)
    return Promise.all(
      ids.map((id) =>
        stopOne(
          paths,
          rows.find((r) => r.preview_id === id)!,
        ),
      ),
    )
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
  if (left.tunnel_provider === 'caddy') await removeEdgeRoute(paths, id)
  // The dev server leads its own process group (spawned detached): its pid is the group id.
  if (left.process_pid) await killGroup(left.process_pid, {startTime: left.process_start_time})
  const removed = await removeRow(paths, id)
  const reason: StopReason = supervisorAlive ? 'operator' : 'crash'
  // Only a preview that reached running has a start entry to balance.
  if (removed && removed.status !== 'starting') await appendAudit(paths, {cleaned_up_by: 'stop', event: 'stop', preview_id: id, reason})
  return {cleaned_up: true, preview_id: id, reason, stopped: true}
}

/** A dead supervisor's Caddy route (no process to kill: a route in someone else's server), removed by its id. */
async function removeEdgeRoute(paths: SddPaths, id: string): Promise<void> {
  try {
    const {removePreviewRoute} = await import('../tunnels/drivers/caddy.js')
    await removePreviewRoute(loadConfig(paths).providers.caddy ?? {}, id)
  } catch {
    // Caddy unreachable or the config unreadable: the route only points at a gateway that is gone now.
  }
}

export interface CleanupPlan {
  worktrees: Array<{path: string; bytes: number}>
  logs: Array<{path: string; bytes: number}>
  total_bytes: number
}

/** How long `preview restart` waits for the dev server to come back. */
export const RESTART_WAIT_MS = 120_000

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

/**
 * What is wrong whatever the config says, checked before anything is looked up or started (both the oclif
 * command and the start fast path come through here): a --command with nothing to run, a --cwd that is a file.
 */
export function checkStartInput(opts: {command?: string | undefined; cwd?: string | undefined}, base: string): void {
  if (opts.command !== undefined && opts.command.trim() === '') {
    throw new InvalidInput(
      `--command is ${opts.command === '' ? 'empty' : 'blank'}: there is no dev command to run.`,
      'Pass the command that starts your dev server (e.g. --command "npm run dev"), or leave --command out to use discovery (see --list-commands).',
    )
  }

  if (opts.cwd) {
    const dir = path.resolve(base, opts.cwd)
    let isDir = true
    try {
      isDir = statSync(dir).isDirectory()
    } catch {
      // Missing: repoRoot says so, with its own message.
    }

    if (!isDir) {
      throw new InvalidInput(
        `--cwd ${dir} is a file, not a directory: a dev server runs in a directory.`,
        `Pass the directory of a git checkout instead (e.g. --cwd ${path.dirname(dir)}), or leave --cwd out to use the newest .sdd worktree.`,
      )
    }
  }
}

/** Validates flags against config and defaults; every bad value is an InvalidInput (exit 2). */
export function resolveSettings(opts: StartOptions, config: PreviewConfig) {
  const provider = opts.provider ?? config.provider ?? DEFAULTS.provider
  if (provider !== 'auto' && !PROVIDERS.includes(provider as never)) {
    throw new InvalidInput(`Unknown provider "${provider}".`, `Use one of: auto, ${PROVIDERS.join(', ')}.`)
  }

  const auth = opts.auth ?? config.auth ?? DEFAULTS.auth
  if (!AUTH_MODES.includes(auth as AuthMode))
    throw new InvalidInput(`Unknown auth mode "${auth}".`, `Use one of: ${AUTH_MODES.join(', ')}.`)
  const expireSeconds = resolveExpire(opts.expire, config)

  const readyTimeoutSeconds = parseDuration(opts.readyTimeout ?? config.ready_timeout ?? DEFAULTS.readyTimeout, '--ready-timeout')
  const idleText = opts.idleTtl ?? config.idle_ttl
  const idleTtlSeconds = idleText === undefined ? null : parseDuration(idleText, '--idle-ttl')
  return {auth: auth as AuthMode, expireSeconds, idleTtlSeconds, provider, readyTimeoutSeconds}
}
