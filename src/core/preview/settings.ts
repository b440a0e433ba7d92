// A start's settings, validated in one place: flags over .sdd/preview.yaml over DEFAULTS. Every bad value is an
// InvalidInput (exit 2), thrown before anything is looked up or started.
import {statSync} from 'node:fs'
import path from 'node:path'
import {InvalidInput} from '../errors.js'
import {AUTH_MODES, PROVIDERS, type AuthMode} from '../records/types.js'
import type {PreviewConfig} from './config.js'
import {parseDuration} from './duration.js'

export const DEFAULTS = {
  auth: 'token' as AuthMode,
  expire: '4h',
  maxExpire: '24h',
  maxRestarts: 3,
  provider: 'auto',
  readyTimeout: '30s',
}

/** The flags a start's settings come from (the rest of StartOptions picks what runs, not how). */
export interface SettingsFlags {
  provider?: string | undefined
  auth?: string | undefined
  expire?: string | undefined
  readyTimeout?: string | undefined
  idleTtl?: string | undefined
}

export interface StartSettings {
  auth: AuthMode
  provider: string
  expireSeconds: number
  readyTimeoutSeconds: number
  /** null: no idle stop (not asked for, or an attached server, which preview does not run). */
  idleTtlSeconds: number | null
  maxRestarts: number
  gatewayBind: string | null
  gatewayIdleTimeoutMs: number | null
}

/** An auth mode given as a flag: one of AUTH_MODES, or bad input. */
export function checkAuthMode(auth: string): AuthMode {
  if (!AUTH_MODES.includes(auth as AuthMode)) {
    throw new InvalidInput(`Unknown auth mode "${auth}".`, `Use one of: ${AUTH_MODES.join(', ')}.`)
  }

  return auth as AuthMode
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

/** `--attach` with flags that only mean something for a dev server preview runs: exit 2. */
export function checkAttachFlags(opts: {
  ref?: string | undefined
  command?: string | undefined
  idleTtl?: string | undefined
  workingCopy?: boolean | undefined
}): void {
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
 * Validates flags against config and defaults; every bad value is an InvalidInput (exit 2). With `attaching`,
 * config idle_ttl is still checked but means nothing: preview does not run an attached server.
 */
export function resolveSettings(opts: SettingsFlags, config: PreviewConfig, attaching = false): StartSettings {
  const provider = opts.provider ?? config.provider ?? DEFAULTS.provider
  if (provider !== 'auto' && !PROVIDERS.includes(provider as never)) {
    throw new InvalidInput(`Unknown provider "${provider}".`, `Use one of: auto, ${PROVIDERS.join(', ')}.`)
  }

  const auth = checkAuthMode(opts.auth ?? config.auth ?? DEFAULTS.auth)
  const expireSeconds = resolveExpire(opts.expire, config)
  const readyTimeoutSeconds = parseDuration(opts.readyTimeout ?? config.ready_timeout ?? DEFAULTS.readyTimeout, '--ready-timeout')
  const idleText = (attaching ? undefined : opts.idleTtl) ?? config.idle_ttl
  const idleTtlSeconds = idleText === undefined ? null : parseDuration(idleText, '--idle-ttl')
  // gateway.idle_timeout was checked by loadConfig: this parse cannot fail.
  const idle = config.gateway?.idle_timeout
  return {
    auth,
    expireSeconds,
    gatewayBind: config.gateway?.bind ?? null,
    gatewayIdleTimeoutMs: idle ? parseDuration(idle, 'gateway.idle_timeout') * 1000 : null,
    idleTtlSeconds: attaching ? null : idleTtlSeconds,
    maxRestarts: config.max_restarts ?? DEFAULTS.maxRestarts,
    provider,
    readyTimeoutSeconds,
  }
}
