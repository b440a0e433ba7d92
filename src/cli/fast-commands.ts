// The fast path of list, status, stop, logs and share: plain invocations answered without loading oclif, with the
// same flag tables and bodies (everyday.ts) and the same error rendering (render-error.ts). Anything it should not
// decide (help, unknown or repeated flags, too many arguments, forms such as `-n5` or `--lines=-1`) returns null
// and oclif runs the command as usual.
import {parseArgs, type ParseArgsConfig} from 'node:util'
import {isPreviewError} from '../core/errors.js'
import {
  LIST_FLAGS,
  listBody,
  LOGS_FLAGS,
  logsBody,
  SHARE_FLAGS,
  shareBody,
  STATUS_FLAGS,
  statusBody,
  STOP_FLAGS,
  stopBody,
  type FlagSpec,
  type Io,
} from './everyday.js'
import {renderError, wantsJson} from './render-error.js'
import {humanIo, printRendered, result as printResult, resultJson} from './output.js'

type FlagValue = boolean | string | number | undefined
type FlagValues = Record<string, FlagValue>

interface FastCommand {
  flags: Record<string, FlagSpec>
  /** How many positional arguments it takes. */
  positionals: 'none' | 'one' | 'many'
  /** Resolves with the result to print with --json (undefined: a stream, already printed). */
  run(positionals: string[], flags: FlagValues, io: Io): Promise<unknown>
}

const bool = (v: FlagValue) => v === true
const str = (v: FlagValue) => v as string | undefined

export const FAST_COMMANDS: Record<string, FastCommand> = {
  list: {
    flags: LIST_FLAGS,
    positionals: 'none',
    run: (_p, f, io) => listBody({all: bool(f.all), 'show-secrets': bool(f['show-secrets'])}, io),
  },
  logs: {
    flags: LOGS_FLAGS,
    positionals: 'one',
    run: (p, f, io) => logsBody(p[0], {follow: bool(f.follow), lines: f.lines as number}, io),
  },
  share: {flags: SHARE_FLAGS, positionals: 'one', run: (p, f, io) => shareBody(p[0], {auth: str(f.auth), expire: str(f.expire)}, io)},
  status: {flags: STATUS_FLAGS, positionals: 'one', run: (p, f, io) => statusBody(p[0], {'show-secrets': bool(f['show-secrets'])}, io)},
  stop: {flags: STOP_FLAGS, positionals: 'many', run: (p, f, io) => stopBody(p, {all: bool(f.all)}, io)},
}

/**
 * A flag value oclif refuses, as oclif words it (the message, `oclif.exit` 2 and, for a value outside `options`,
 * its class name: render-error.ts recognises oclif's errors by that shape), so the --json envelope is the same.
 */
export class FlagInvalidOptionError extends Error {
  readonly oclif = {exit: 2}
  constructor(name: string, input: string, options: readonly string[]) {
    super(`Expected --${name}=${input} to be one of: ${options.join(', ')}\nSee more help with --help`)
  }
}

/** oclif's "Parsing --flag" error: a value its parse function refused (a CLIError, exit 2). */
export class FlagParsingError extends Error {
  readonly oclif = {exit: 2}
  constructor(name: string, problem: string) {
    super(`Parsing --${name} \n\t${problem}\nSee more help with --help`)
  }
}

/** A flag's value as oclif's Flags.string/Flags.integer would give it, or the error oclif would raise. */
function flagValue(name: string, spec: FlagSpec, input: string): string | number {
  // oclif checks `options` before parsing the value.
  if (spec.options && !spec.options.includes(input)) throw new FlagInvalidOptionError(name, input, spec.options)
  if (spec.type !== 'integer') return input
  // oclif's Flags.integer, word for word.
  if (!/^-?\d+$/.test(input)) throw new FlagParsingError(name, `Expected an integer but received: ${input}`)
  const n = Number.parseInt(input, 10)
  if (spec.min !== undefined && n < spec.min)
    throw new FlagParsingError(name, `Expected an integer greater than or equal to ${spec.min} but received: ${input}`)
  return n
}

/**
 * Parses argv as oclif would for these commands, or null when oclif should decide. Throws FlagInvalidOptionError
 * or FlagParsingError for a value oclif would refuse (at most one flag per command has such a check today).
 */
export function parseFastArgv(command: string, argv: string[]): {positionals: string[]; flags: FlagValues; json: boolean} | null {
  const spec = FAST_COMMANDS[command]
  if (!spec) return null
  const options: NonNullable<ParseArgsConfig['options']> = {json: {type: 'boolean'}}
  for (const [name, flag] of Object.entries(spec.flags)) {
    options[name] = {type: flag.type === undefined ? 'boolean' : 'string', ...(flag.char ? {short: flag.char} : {})}
  }

  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({allowPositionals: true, args: argv, options, strict: true, tokens: true})
  } catch {
    return null // unknown flags, a value missing or starting with '-': oclif words those itself
  }

  const seen = new Set<string>()
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'option-terminator') return null
    if (token.kind !== 'option') continue
    if (seen.has(token.name)) return null // oclif refuses repeated flags; let it say so
    seen.add(token.name)
    const typed = spec.flags[token.name]?.type !== undefined
    const written = argv[token.index]
    if (!token.inlineValue) {
      if (written !== token.rawName) return null // a group of short flags (`-fn`)
      continue
    }

    // Only `--name=value` of a string or integer flag: oclif reads `-n5`, `-n=5` and `--all=1` its own ways.
    if (!typed || !token.rawName.startsWith('--') || written !== `${token.rawName}=${token.value}`) return null
  }

  const positionals = parsed.positionals
  if ((spec.positionals === 'none' && positionals.length > 0) || (spec.positionals === 'one' && positionals.length > 1)) return null
  if (positionals.some((p) => p.startsWith('-'))) return null
  const values = parsed.values as Record<string, string | boolean | undefined>
  const flags: FlagValues = {}
  for (const [name, flag] of Object.entries(spec.flags)) {
    const value = values[name]
    if (flag.type === undefined) flags[name] = value === true
    else if (typeof value !== 'string') flags[name] = flag.default
    else if (value === '' || value.startsWith('-'))
      return null // oclif's reading of these depends on its flag table
    else flags[name] = flagValue(name, flag, value)
  }

  return {flags, json: values.json === true, positionals}
}

/** Runs `preview <command> <argv>`; resolves with the exit code, or null to hand the command to oclif. */
export async function runFastCommand(command: string, argv: string[]): Promise<number | null> {
  const known = [...Object.keys(FAST_COMMANDS[command]?.flags ?? {}), 'json']
  let parsed: ReturnType<typeof parseFastArgv>
  try {
    parsed = parseFastArgv(command, argv)
  } catch (error) {
    if (!(error instanceof FlagInvalidOptionError || error instanceof FlagParsingError)) throw error
    // The --json envelope is ours (render-error.ts); the human text of these is oclif's own printer (wrapped to
    // the terminal's width, coloured, a stack with DEBUG): oclif prints it, on this error path only.
    if (!wantsJson(argv)) return null
    const out = renderError(error, true, command, known)
    printResult(out.stdout ?? '')
    return out.exitCode
  }

  if (!parsed) return null
  const io: Io = humanIo(parsed.json)
  try {
    const result = await FAST_COMMANDS[command]!.run(parsed.positionals, parsed.flags, io)
    if (parsed.json && result !== undefined) resultJson(result)
    return 0
  } catch (error) {
    if (!isPreviewError(error)) throw error
    const out = renderError(error, parsed.json, command, known)
    printRendered(out)
    return out.exitCode
  }
}
