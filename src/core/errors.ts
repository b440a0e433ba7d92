// The error taxonomy: core throws these; src/commands maps them to exit codes and advice in one place.

export type ErrorKind =
  | 'bad-input' // flag values, config values, unknown ids: exit 2
  | 'runtime' // something failed while running: exit 1

export class PreviewError extends Error {
  readonly kind: ErrorKind
  readonly code: string
  /** What to try next, one line (a start that rolled back may rewrite it: it must not name what is gone). */
  hint: string | undefined
  /** A failed start: the id it had and the log kept for it (shown, and in the --json error). */
  previewId?: string
  logFile?: string
  /** Extra lines shown after the message (for example the dev server's last log lines). */
  readonly details: string[]

  constructor(code: string, message: string, opts: {kind?: ErrorKind; hint?: string; details?: string[]} = {}) {
    super(message)
    this.name = new.target.name
    this.code = code
    this.kind = opts.kind ?? 'runtime'
    this.hint = opts.hint
    this.details = opts.details ?? []
  }

  get exitCode(): number {
    return this.kind === 'bad-input' ? 2 : 1
  }
}

/** Bad flag or config value. */
export class InvalidInput extends PreviewError {
  constructor(message: string, hint?: string) {
    super('INVALID_INPUT', message, {hint, kind: 'bad-input'})
  }
}

export class PreviewNotFound extends PreviewError {
  constructor(id: string) {
    super('PREVIEW_NOT_FOUND', `No preview with id ${id}.`, {
      hint: 'Run `preview list` to see the previews that exist.',
      kind: 'bad-input',
    })
  }
}

export class DiscoveryFailed extends PreviewError {
  constructor(message: string, hint: string) {
    super('DISCOVERY_FAILED', message, {hint, kind: 'bad-input'})
  }
}

export class NotAGitRepository extends PreviewError {
  constructor(dir: string) {
    super('NOT_A_GIT_REPOSITORY', `${dir} is not inside a git repository.`, {
      hint: 'Run preview from a git checkout, or pass --cwd pointing into one (git init && git commit first).',
      kind: 'bad-input',
    })
  }
}

export class PortNotDetected extends PreviewError {
  constructor(message: string, logTail: string[]) {
    super('PORT_NOT_DETECTED', message, {
      details: logTail,
      hint: 'Check that the dev command starts a server on $PORT (or prints its URL), or raise --ready-timeout.',
    })
  }
}

export type TunnelFailureReason = 'binary-missing' | 'not-configured' | 'timeout' | 'exited' | 'rate-limited' | 'error'

export class TunnelFailed extends PreviewError {
  readonly reason: TunnelFailureReason
  readonly provider: string
  constructor(
    provider: string,
    reason: TunnelFailureReason,
    message: string,
    hint?: string,
    details?: string[],
    kind: ErrorKind = 'runtime',
  ) {
    super('TUNNEL_FAILED', message, {details, hint, kind})
    this.provider = provider
    this.reason = reason
  }
}

export class StateCorrupt extends PreviewError {
  constructor(file: string, why: string, backup?: string) {
    super('STATE_CORRUPT', `The state file ${file} cannot be read: ${why}.`, {
      hint: backup
        ? `A copy was kept at ${backup}. Fix the JSON by hand, or move the file away: the previews it listed then stop by themselves within a second.`
        : 'Fix the JSON by hand, or move the file away (the previews it listed then stop by themselves).',
    })
  }
}

/** Something that started failed while starting; carries the dev server's last log lines. */
export class StartFailed extends PreviewError {
  constructor(message: string, details: string[] = [], hint?: string) {
    super('START_FAILED', message, {details, hint})
  }
}

export function isPreviewError(err: unknown): err is PreviewError {
  return err instanceof PreviewError
}
