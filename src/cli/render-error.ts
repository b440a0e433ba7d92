// How an error reaches the user: one place for the oclif commands, the oclif runner (unknown commands) and the
// start fast path. With --json every error is one small {"error": {...}} document on stdout (docs/json/error.json);
// otherwise text on stderr. No oclif import here: the start fast path runs without loading oclif, so oclif's
// own errors are recognised by shape (their `oclif.exit` and class name).
import type {PreviewError} from '../core/errors.js'
import {stripAnsi} from '../core/ansi.js'
import {isPreviewError} from '../core/errors.js'
import {closest} from './suggest.js'

/** The error envelope's body: the contract of docs/json/error.json. */
export interface ErrorBody {
  code: string
  message: string
  hint: string | null
  details: string[]
  /** bad-input (exit 2) or runtime (exit 1). */
  kind: 'bad-input' | 'runtime'
  exit_code: number
  /** For oclif's own parse errors: what was wrong with the command line. */
  reason?: string
  [extra: string]: unknown
}

/** No error document is larger than this (details are cut to fit): agents read it whole. */
export const MAX_ERROR_BYTES = 4096

/** oclif's parse error classes, by name, with what went wrong in words an agent can switch on. */
const PARSE_REASONS: Record<string, string> = {
  ArgInvalidOptionError: 'invalid-argument-value',
  FailedFlagValidationError: 'invalid-flags',
  FlagInvalidOptionError: 'invalid-flag-value',
  NonExistentFlagsError: 'unknown-flag',
  RequiredArgsError: 'missing-argument',
  UnexpectedArgsError: 'unexpected-argument',
  ViolatedFlagConstraintError: 'flag-conflict',
}

type OclifLike = Error & {oclif?: {exit?: number | false}; code?: unknown}

/** Any error as the envelope body: PreviewErrors as they are, oclif's parse errors as bad input, the rest as runtime. */
export function errorBody(err: unknown, command?: string, knownFlags: string[] = []): ErrorBody {
  if (isPreviewError(err)) {
    // A failed start names its preview and the log it kept (`preview logs <id>` still reads it).
    const started = err.previewId ? {log_file: err.logFile ?? null, preview_id: err.previewId} : {}
    return {
      code: err.code,
      details: err.details,
      exit_code: err.exitCode,
      hint: err.hint ?? null,
      kind: err.kind,
      message: err.message,
      ...started,
    }
  }

  const e = (err instanceof Error ? err : new Error(String(err))) as OclifLike
  const reason = PARSE_REASONS[e.constructor?.name ?? '']
  const help = command ? `preview ${command} --help` : 'preview --help'
  // oclif's messages end with "See more help with --help": the hint says that, once.
  const message = stripAnsi(e.message)
    .replace(/\n*See more help with --help\s*$/, '')
    .trim()
  if (reason) {
    const [first = message, ...rest] = message.split('\n')
    const details = rest.filter((l) => l.trim())
    let hint = `Run \`${help}\` for the flags and arguments.`
    const unknownFlag = (e as {flags?: unknown}).flags
    if (reason === 'unknown-flag' && Array.isArray(unknownFlag) && typeof unknownFlag[0] === 'string') {
      const guess = closest(unknownFlag[0].replace(/^-+/, '').split('=')[0]!, knownFlags)
      if (guess) hint = `Did you mean --${guess}? ${hint}`
    }

    // "Missing 1 required arg:" names the argument on the next line: one sentence is easier to read.
    const text = reason === 'missing-argument' && details.length > 0 ? `${first} ${details.join('; ')}` : first
    return {
      code: 'INVALID_INPUT',
      details: reason === 'missing-argument' ? [] : details,
      exit_code: 2,
      hint,
      kind: 'bad-input',
      message: text,
      reason,
    }
  }

  if (e.oclif && typeof e.oclif.exit === 'number') {
    // Other oclif errors (an unknown command: 127 from plugin-not-found) keep their exit code.
    const exit = e.oclif.exit
    const [first = message, ...rest] = message.split('\n')
    const notFound = exit === 127
    return {
      code: notFound ? 'UNKNOWN_COMMAND' : 'INVALID_INPUT',
      details: rest.filter((l) => l.trim()),
      exit_code: notFound ? 2 : exit,
      hint: notFound ? 'Run `preview --help` for the commands.' : `Run \`${help}\`.`,
      kind: notFound || exit === 2 ? 'bad-input' : 'runtime',
      message: first,
    }
  }

  return {
    code: 'INTERNAL',
    details: [],
    exit_code: 1,
    hint: 'This is a bug in preview; DEBUG=preview:* shows more.',
    kind: 'runtime',
    message,
  }
}

/** The --json document for an error, cut to MAX_ERROR_BYTES: the oldest detail lines go first, then the text is cut. */
export function errorDocument(body: ErrorBody): string {
  const doc = JSON.stringify({error: body}, null, 2)
  if (Buffer.byteLength(doc) <= MAX_ERROR_BYTES) return doc
  // Room for the details once everything else is in (with margin for the flag and the indentation).
  const base = {...body, details: [] as string[], details_truncated: true}
  base.message = base.message.length > 1500 ? `${base.message.slice(0, 1500)}…` : base.message
  base.hint = base.hint && base.hint.length > 500 ? `${base.hint.slice(0, 500)}…` : base.hint
  let room = MAX_ERROR_BYTES - Buffer.byteLength(JSON.stringify({error: base}, null, 2)) - 16
  const kept: string[] = []
  for (let i = body.details.length - 1; i >= 0; i--) {
    const cost = Buffer.byteLength(JSON.stringify(body.details[i])) + 8 // quotes, comma, newline, indentation
    if (cost > room) break
    room -= cost
    kept.unshift(body.details[i]!)
  }

  return JSON.stringify({error: {...base, details: kept}}, null, 2)
}

/** The text (stderr) or document (stdout, --json) for an error, and the exit code. */
export function renderPreviewError(err: PreviewError, json: boolean): {stdout: string | null; stderr: string | null; exitCode: number} {
  return renderError(err, json)
}

/** Any error, rendered: with --json one envelope on stdout, else the message, details and hint on stderr. */
export function renderError(
  err: unknown,
  json: boolean,
  command?: string,
  knownFlags?: string[],
): {stdout: string | null; stderr: string | null; exitCode: number} {
  const body = errorBody(err, command, knownFlags)
  if (json) return {exitCode: body.exit_code, stderr: null, stdout: errorDocument(body)}
  const lines = [body.message]
  if (body.details.length > 0) lines.push('', ...body.details.map((l) => `  ${l}`))
  if (body.hint) lines.push('', body.hint)
  if (typeof body.preview_id === 'string') {
    lines.push(
      '',
      `Preview ${body.preview_id} did not start; its log is kept at ${String(body.log_file ?? '(no log)')} (\`preview logs ${body.preview_id}\`).`,
    )
  }

  return {exitCode: body.exit_code, stderr: `Error: ${lines.join('\n')}`, stdout: null}
}

/** True when argv asks for JSON (before a `--`), as oclif's enableJsonFlag reads it. */
export function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json')
}
