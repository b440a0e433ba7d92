// `preview start`, the CLI's side (docs/architecture.md, "The start sequence"): settings, sandbox, discovery,
// the supervisor's spec, then the supervisor (spawned, or in this process with --foreground) and its answer.
// Every failure after the sandbox is picked rolls back what this start made.
import {randomBytes} from 'node:crypto'
import {closeSync, existsSync, fstatSync, openSync} from 'node:fs'
import path from 'node:path'
import {chooseCommand, discoverCommands, runnerNote, scriptPlan, type Discovery} from '../discovery/commands.js'
import {PreviewError, StartFailed, isPreviewError} from '../errors.js'
import {ensureDir} from '../fsutil.js'
import {freePort} from '../netprobe.js'
import {isAlive, killGroup, procStartTime, run, spawnGroup, spawnNodeDetached} from '../process.js'
import {loadJwtKey, mintCredential, type Credential} from '../records/credentials.js'
import {logFile, type SddPaths} from '../records/paths.js'
import {readState} from '../records/state.js'
import type {PreviewRow} from '../records/types.js'
import {copyCandidates, copyUntracked} from '../sandbox/copy.js'
import {installCommand} from '../sandbox/install.js'
import {excludeSdd, planDir, removeWorktree, repoRoot, resolveSandbox, treePosition, type Sandbox} from '../sandbox/resolve.js'
import {ADOPT_WRAPPER, devServerEnv, type AdoptedDevServer} from '../supervisor/dev-server.js'
import {SUPERVISOR_SCRIPT, takePrewarmed} from '../supervisor/prewarm.js'
import type {SupervisorInput} from '../supervisor/supervisor-main.js'
import type {ReadyMessage, Supervisor, SupervisorMessage, SupervisorSpec} from '../supervisor/supervisor.js'
import {loadConfig, type PreviewConfig} from './config.js'
import {locate, type Located, type ManagerContext} from './locate.js'
import {checkAttachPort, preflightTunnel} from './preflight.js'
import {checkAttachFlags, checkStartInput, resolveSettings, type StartSettings} from './settings.js'

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

export interface StartResult {
  row: PreviewRow
  /** The one URL with its secret (token or password); printed once, never logged. */
  shareUrl: string
  served: Served
  warnings: string[]
  /** Only in foreground mode: resolves when the preview has stopped. */
  supervisor?: Supervisor
}

type Progress = (step: string, detail: string) => void

/** Step 2's outcome: where the records are, the config, the validated settings, the checked tunnel. */
interface Prepared extends Located {
  config: PreviewConfig
  settings: StartSettings
  /** The provider to run (`auto` resolved by the preflight). */
  provider: string
  attachPort: number | null
  explicitCwd: string | undefined
}

/** Starts a preview: validates input, picks the sandbox and command, runs the supervisor, returns the row and link. */
export async function startPreview(ctx: ManagerContext, opts: StartOptions): Promise<StartResult> {
  const progress = opts.onProgress ?? (() => {})
  const prep = await prepare(ctx, opts)
  const warnings: string[] = []
  const sandbox = await pickSandbox(ctx, opts, prep, progress, warnings)
  const id = newPreviewId()
  let spawned = false
  try {
    if (sandbox.backend === 'worktree') warnings.push(...(await copyInto(ctx.cwd, sandbox, prep, progress)))
    const spec = await buildSpec(ctx, opts, prep, sandbox, id, progress)
    spawned = true
    opts.onLogFile?.(logFile(prep.paths, spec.id))
    const {ready, supervisor} = await runSupervisor(ctx, spec, prep.paths, progress, opts.foreground ?? false)
    return {
      row: ready.row,
      served: served(sandbox),
      shareUrl: ready.shareUrl,
      ...(supervisor ? {supervisor} : {}),
      warnings: [...warnings, ...ready.warnings],
    }
  } catch (error) {
    const removed = sandbox.created && prep.root !== null
    if (removed) await removeWorktree(prep.root!, sandbox.top)
    if (isPreviewError(error)) followable(error, {id, logFile: spawned ? logFile(prep.paths, id) : null, removed: removed ? sandbox : null})
    throw error
  }
}

/** Every candidate dev command in order, without starting anything: looked for where `start` would run. */
export async function listStartCommands(
  ctx: ManagerContext,
  opts: {cwd?: string | undefined; command?: string | undefined; ref?: string | undefined; workingCopy?: boolean | undefined},
): Promise<Discovery & {cwd: string}> {
  checkStartInput(opts, ctx.cwd)
  const explicitCwd = opts.cwd ? path.resolve(ctx.cwd, opts.cwd) : undefined
  const {paths, root} = await locate(ctx, explicitCwd ?? ctx.cwd)
  const config = loadConfig(paths)
  const dir = await planDir({
    cwd: explicitCwd,
    paths,
    ref: opts.ref,
    root: root ?? ctx.cwd,
    startDir: ctx.cwd,
    workingCopy: opts.workingCopy,
  })
  const found = discoverCommands({configCommand: config.command, configFile: paths.config, cwd: dir, env: ctx.env, explicit: opts.command})
  for (const c of found.candidates) {
    const note = runnerNote(scriptPlan(c, {dir, env: ctx.env, initCwd: ctx.cwd, setting: config.script_runner}))
    if (note) c.runner = note
  }

  return {...found, cwd: dir}
}

/** Step 2, settings: input, records, config and tunnel checked before anything starts (bad input: exit 2). */
async function prepare(ctx: ManagerContext, opts: StartOptions): Promise<Prepared> {
  checkStartInput(opts, ctx.cwd)
  const explicitCwd = opts.cwd ? path.resolve(ctx.cwd, opts.cwd) : undefined
  const attaching = opts.attach !== undefined
  if (attaching) checkAttachFlags(opts)
  // Not a directory / not a repo: exit 2 before anything starts (and the answer serves locate too).
  const explicitRoot = explicitCwd ? await repoRoot(explicitCwd) : undefined
  const located = await locate(ctx, explicitCwd ?? ctx.cwd, explicitRoot)
  const config = loadConfig(located.paths)
  const settings = resolveSettings(opts, config, attaching)
  const attachPort = attaching ? await checkAttachPort(opts.attach!) : null
  // The tunnel is checked before anything starts: a missing binary or setting fails now, not after the install.
  const provider = await preflightTunnel(settings.provider, ctx.env, config.providers)
  if (located.root) excludeSdd(located.root)
  return {...located, attachPort, config, explicitCwd, provider, settings}
}

/** Step 3, sandbox: what the start serves (or the attached server); warns about uncommitted files left out. */
async function pickSandbox(
  ctx: ManagerContext,
  opts: StartOptions,
  prep: Prepared,
  progress: Progress,
  warnings: string[],
): Promise<Sandbox> {
  const sandbox: Sandbox =
    prep.attachPort !== null
      ? attachedSandbox(prep.explicitCwd ?? ctx.cwd, prep.attachPort)
      : await resolveSandbox({
          cwd: prep.explicitCwd,
          inUse: readState(prep.paths)
            .previews.filter((r) => isAlive(r.supervisor_pid, r.supervisor_start_time))
            .map((r) => path.resolve(r.cwd)),
          paths: prep.paths,
          ref: opts.ref,
          root: prep.root ?? ctx.cwd,
          startDir: ctx.cwd,
          workingCopy: opts.workingCopy,
        })
  progress('sandbox', sandbox.sessionId ? `${sandbox.backend}/${sandbox.sessionId}` : sandbox.cwd)
  if (sandbox.leftOut > 0) {
    warnings.push(
      `${sandbox.leftOut} file${sandbox.leftOut === 1 ? ' has' : 's have'} uncommitted changes that this preview does not include (it serves the last commit); pass --working-copy to serve them.`,
    )
  }

  return sandbox
}

function attachedSandbox(dir: string, port: number): Sandbox {
  return {
    backend: 'attached',
    branch: null,
    commit: null,
    created: false,
    cwd: dir,
    leftOut: 0,
    owned: false,
    ref: null,
    sessionId: null,
    top: dir,
    where: `the server on 127.0.0.1:${port}`,
  }
}

/** Steps 4 and 5: the dev command (discovery, or the attached port) and the spec the supervisor runs. */
async function buildSpec(
  ctx: ManagerContext,
  opts: StartOptions,
  prep: Prepared,
  sandbox: Sandbox,
  id: string,
  progress: Progress,
): Promise<SupervisorSpec> {
  const {attachPort, config, paths, settings} = prep
  const chosen =
    attachPort !== null
      ? {command: `(attached to 127.0.0.1:${attachPort})`, source: '--attach'}
      : chooseCommand(
          discoverCommands({
            configCommand: config.command,
            configFile: paths.config,
            cwd: sandbox.cwd,
            env: ctx.env,
            explicit: opts.command,
            firstOnly: true,
          }),
        )
  progress('discover', `${chosen.command} (${chosen.source})`)
  // A package.json script of an npm project runs without npm (its start-up is most of `npm run dev`'s).
  const plan = scriptPlan(chosen, {dir: sandbox.cwd, env: ctx.env, initCwd: ctx.cwd, setting: config.script_runner})
  const now = Math.floor(Date.now() / 1000)
  return {
    attachPort,
    authMode: settings.auth,
    branch: sandbox.branch,
    command: chosen.command,
    commit: sandbox.commit,
    install:
      attachPort !== null
        ? null
        : installCommand(sandbox.cwd, {configured: config.install, skip: opts.noInstall ?? false, stale: sandbox.reinstall ?? false}),
    ref: sandbox.ref,
    createdAtEpoch: now,
    cwd: sandbox.cwd,
    env: Object.fromEntries(Object.entries(ctx.env).filter((e): e is [string, string] => typeof e[1] === 'string')),
    expiresAtEpoch: now + settings.expireSeconds,
    gatewayBind: settings.gatewayBind,
    gatewayIdleTimeoutMs: settings.gatewayIdleTimeoutMs,
    id,
    idleTtlMs: settings.idleTtlSeconds === null ? null : settings.idleTtlSeconds * 1000,
    maxRestarts: settings.maxRestarts,
    port: attachPort ?? (await freePort()),
    provider: prep.provider,
    providers: config.providers,
    readyTimeoutMs: settings.readyTimeoutSeconds * 1000,
    run: plan?.direct ? {command: plan.command, env: plan.env} : null,
    sandboxBackend: sandbox.backend,
    sandboxSessionId: sandbox.sessionId,
    sddDir: prep.sddDir,
  }
}

/** Steps 6 and 7: the supervisor, in this process (--foreground) or spawned, until it says ready or failed. */
async function runSupervisor(
  ctx: ManagerContext,
  spec: SupervisorSpec,
  paths: SddPaths,
  progress: Progress,
  foreground: boolean,
): Promise<{ready: ReadyMessage; supervisor?: Supervisor}> {
  if (!foreground) return {ready: await spawnSupervisor(ctx.env, spec, paths, progress)}
  // Loaded on demand: the supervisor pulls in the gateway and the tunnel drivers, which list/stop never need.
  const {Supervisor} = await import('../supervisor/supervisor.js')
  const supervisor = new Supervisor(spec, progress, mint(spec, paths))
  return {ready: await supervisor.start(), supervisor}
}

/** Which of `files` git tracks in a worktree (a tracked .env is served as committed, never overwritten). */
async function trackedFiles(dir: string, files: string[]): Promise<Set<string>> {
  const safe = files.filter((f) => f && !path.isAbsolute(f) && !f.split(/[\\/]/).includes('..'))
  if (safe.length === 0) return new Set()
  const res = await run('git', ['ls-files', '-z', '--', ...safe.map((f) => `:(literal)${f}`)], {cwd: dir, timeoutMs: 10_000})
  return new Set(res.exitCode === 0 ? res.stdout.split('\0').filter(Boolean) : [])
}

/** Copies the untracked files (`copy:`, default the .env files) into a worktree; returns the warnings. */
async function copyInto(startDir: string, sandbox: Sandbox, prep: Prepared, progress: Progress): Promise<string[]> {
  const {config, paths} = prep
  const from = (await treePosition(startDir))?.top ?? startDir
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
function spawnSupervisor(env: NodeJS.ProcessEnv, spec: SupervisorSpec, paths: SddPaths, progress: Progress): Promise<ReadyMessage> {
  ensureDir(paths.logs)
  const prewarmed = takePrewarmed()
  // The dev server starts now, from here, while the supervisor finishes booting: its own start-up overlaps
  // the supervisor's instead of following it. It writes into the log; the supervisor adopts it. (With an
  // install to run first, the supervisor does everything itself.)
  const adopted = spec.install || spec.attachPort ? null : startDevServerForAdoption(spec, paths)
  if (adopted) spec.adopt = adopted
  const child =
    prewarmed ??
    (() => {
      // The supervisor's own stdout/stderr (crash traces) go to the preview's log file.
      const fd = openSync(logFile(paths, spec.id), 'a', 0o600)
      const spawned = spawnNodeDetached(SUPERVISOR_SCRIPT, [spec.id], {cwd: spec.cwd, env, logFd: fd})
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
    mint(spec, paths).then(
      (credential) => {
        if (!settled && child.connected) child.send({credential, type: 'credential'} satisfies SupervisorInput)
      },
      (error: Error) => finish(() => reject(new StartFailed(`Could not mint the link: ${error.message}`))),
    )
  })
}

/** Starts the dev server for the supervisor to adopt: its own process group, its output into the log file. */
function startDevServerForAdoption(spec: SupervisorSpec, paths: SddPaths): AdoptedDevServer | null {
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
function mint(spec: SupervisorSpec, paths: SddPaths): Promise<Credential> {
  return mintCredential({authMode: spec.authMode, expiresAtEpoch: spec.expiresAtEpoch, key: loadJwtKey(paths), previewId: spec.id})
}

function served(sandbox: Sandbox): Served {
  return {branch: sandbox.branch, commit: sandbox.commit, ref: sandbox.ref, where: sandbox.where}
}

function newPreviewId(): string {
  return `p-${randomBytes(4).toString('hex')}`
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
