// PreviewManager: the programmatic API behind every command, a facade over the verbs (start.ts, stop.ts,
// restart.ts, list.ts, cleanup.ts, links.ts, logs.ts; settings in settings.ts). Agents and tests import it from src/index.ts.
// Each verb's module loads when it is called, while git looks for the repository: a short command (the CLI's fast
// path) loads its own verb only, and that overlaps the git spawn (bench/stop.mjs).
import path from 'node:path'
import type {Discovery} from '../discovery/commands.js'
import type {SddPaths} from '../records/paths.js'
import type {PreviewRow} from '../records/types.js'
import type {CleanupPlan} from './cleanup.js'
import type {ShareResult} from './links.js'
import type {EndedPreview} from './list.js'
import {locate, type Located} from './locate.js'
import type {StartOptions, StartResult} from './start.js'
import type {StopResult} from './stop.js'

export {DEFAULTS} from './settings.js'
export type {CleanupPlan} from './cleanup.js'
export type {EndedPreview} from './list.js'
export type {Served, StartOptions, StartResult} from './start.js'
export type {StopResult} from './stop.js'

export interface ManagerOptions {
  /** Directory the user is in (default for --cwd resolution and the repo root). */
  cwd: string
  env?: NodeJS.ProcessEnv
}

export class PreviewManager {
  readonly cwd: string
  readonly env: NodeJS.ProcessEnv

  constructor(opts: ManagerOptions) {
    this.cwd = path.resolve(opts.cwd)
    this.env = opts.env ?? process.env
  }

  /** The .sdd directory: PREVIEW_SDD_DIR, else <repo root>/.sdd. */
  async locate(dir = this.cwd, knownRoot?: string): Promise<Located> {
    return locate(this, dir, knownRoot)
  }

  /** A verb's module with the .sdd directory: the module loads while git looks for the repository. */
  private verb<M>(load: Promise<M>): Promise<[M, Located]> {
    return Promise.all([load, this.locate()])
  }

  /** The .sdd paths for this directory (for commands that read the tree directly: audit, metrics). */
  async sddPaths(): Promise<SddPaths> {
    return (await this.locate()).paths
  }

  /** `id` when given, else the only running preview's (bad input naming them when there are none or several). */
  async resolveId(id: string | undefined, command: string): Promise<string> {
    const [{resolvePreviewId}, {paths}] = await this.verb(import('./defaults.js'))
    return resolvePreviewId(paths, id, command)
  }

  /** Every candidate dev command in order, without starting anything: looked for where `start` would run. */
  async listCommands(opts: {
    cwd?: string | undefined
    command?: string | undefined
    ref?: string | undefined
    workingCopy?: boolean | undefined
  }): Promise<Discovery & {cwd: string}> {
    const {listStartCommands} = await import('./start.js')
    return listStartCommands(this, opts)
  }

  /** Starts a preview: validates input, picks the sandbox and command, runs the supervisor, returns the row and link. */
  async start(opts: StartOptions): Promise<StartResult> {
    // Loaded on demand: discovery, sandboxes, installs and the supervisor's spawn are a third of the modules
    // here, and list, status and stop (the fast path) never need them.
    const {startPreview} = await import('./start.js')
    return startPreview(this, opts)
  }

  /** Rows with their liveness reconciled: a row whose supervisor died shows as `crashed`. */
  async list(opts: {showSecrets?: boolean} = {}): Promise<PreviewRow[]> {
    const [{listPreviews}, {paths}] = await this.verb(import('./list.js'))
    return listPreviews(paths, opts)
  }

  /**
   * Previews that ended, from the audit log (newest first), with their stop reason. With `sinceEpoch`, only
   * those that ended since then, and without the start details (plain `list`'s notice).
   */
  async ended(opts: {sinceEpoch?: number} = {}): Promise<EndedPreview[]> {
    const [{endedPreviews}, {paths}] = await this.verb(import('./list.js'))
    return endedPreviews(paths, opts)
  }

  async status(id: string, opts: {showSecrets?: boolean} = {}): Promise<PreviewRow> {
    const [{previewStatus}, {paths}] = await this.verb(import('./list.js'))
    return previewStatus(paths, id, opts)
  }

  /** Mints another link to a running preview (a `link` audit entry). */
  async share(opts: {id: string; expire?: string | undefined; auth?: string | undefined}): Promise<ShareResult> {
    const [{paths}, {checkAuthMode, resolveExpire}, {loadConfig}, {shareLink}] = await Promise.all([
      this.locate(),
      import('./settings.js'),
      import('./config.js'),
      import('./links.js'),
    ])
    const authMode = opts.auth === undefined ? undefined : checkAuthMode(opts.auth)
    const expireSeconds = resolveExpire(opts.expire, loadConfig(paths))
    return shareLink({authMode, expireSeconds, id: opts.id, paths})
  }

  /** Revokes one link (by jti) or all of a preview's links; the running gateway refuses them within a second. */
  async revoke(opts: {id: string; jti?: string | undefined; all?: boolean}): Promise<{revoked: string[]}> {
    const [{revokeLinks}, {paths}] = await this.verb(import('./links.js'))
    return revokeLinks({all: opts.all ?? false, id: opts.id, jti: opts.jti, paths})
  }

  /**
   * Restarts a preview's dev server behind the same gateway, tunnel and links. With `pull`, a branch preview's
   * worktree is first brought to the branch tip (fetching its upstream when it has one).
   */
  async restart(opts: {id: string; pull?: boolean; timeoutMs?: number}): Promise<PreviewRow> {
    const [{restartPreview}, {paths, root}] = await this.verb(import('./restart.js'))
    return restartPreview(paths, root, opts)
  }

  /** The last `lines` lines of a preview's log (dev-server output and the supervisor's own [preview] lines). */
  async logs(opts: {id: string; lines?: number}): Promise<{file: string; lines: string[]; bytes: number}> {
    const [{readLogTail}, {paths}] = await this.verb(import('./logs.js'))
    return readLogTail(paths, opts)
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
    const [{followLog}, {paths}] = await this.verb(import('./logs.js'))
    return followLog({...opts, paths})
  }

  /** What cleanup would remove: worktrees no preview uses, and logs of previews that are gone. */
  async cleanupPlan(): Promise<CleanupPlan> {
    const [{cleanupPlan}, {paths}] = await this.verb(import('./cleanup.js'))
    return cleanupPlan(paths)
  }

  /** Removes what cleanupPlan lists (worktrees through git, so git forgets them too). */
  async cleanup(plan: CleanupPlan): Promise<CleanupPlan> {
    const [{cleanUp}, {paths, root}] = await this.verb(import('./cleanup.js'))
    return cleanUp(paths, root, plan)
  }

  /** Stops previews: signals each supervisor and waits; cleans up by itself when a supervisor is gone. */
  async stop(opts: {ids?: string[]; all?: boolean}): Promise<StopResult[]> {
    const [{stopPreviews}, {paths}] = await this.verb(import('./stop.js'))
    return stopPreviews(paths, opts)
  }
}
