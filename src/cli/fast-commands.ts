// The fast path of list, status and stop: plain invocations answered without loading oclif, with the same flag
// tables and bodies (everyday.ts) and the same error rendering (render-error.ts). Anything it should not decide
// (help, unknown or repeated flags, too many arguments) returns null and oclif runs the command as usual.
import {parseArgs} from 'node:util'
import {isPreviewError} from '../core/errors.js'
import {LIST_FLAGS, listBody, STATUS_FLAGS, statusBody, STOP_FLAGS, stopBody, type BooleanFlagSpec, type Io} from './everyday.js'
import {renderError} from './render-error.js'
import {humanIo, printRendered, resultJson} from './output.js'

interface FastCommand {
  flags: Record<string, BooleanFlagSpec>
  /** How many positional arguments it takes. */
  positionals: 'none' | 'one' | 'many'
  run(positionals: string[], flags: Record<string, boolean>, io: Io): Promise<unknown>
}

export const FAST_COMMANDS: Record<string, FastCommand> = {
  list: {
    flags: LIST_FLAGS,
    positionals: 'none',
    run: (_p, f, io) => listBody({all: f.all ?? false, 'show-secrets': f['show-secrets'] ?? false}, io),
  },
  status: {flags: STATUS_FLAGS, positionals: 'one', run: (p, f, io) => statusBody(p[0], {'show-secrets': f['show-secrets'] ?? false}, io)},
  stop: {flags: STOP_FLAGS, positionals: 'many', run: (p, f, io) => stopBody(p, {all: f.all ?? false}, io)},
}

/** Parses argv as oclif would for these boolean-only commands, or null when oclif should decide. */
export function parseFastArgv(
  command: string,
  argv: string[],
): {positionals: string[]; flags: Record<string, boolean>; json: boolean} | null {
  const spec = FAST_COMMANDS[command]
  if (!spec) return null
  const options: Record<string, {type: 'boolean'}> = {json: {type: 'boolean'}}
  for (const name of Object.keys(spec.flags)) options[name] = {type: 'boolean'}
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({allowPositionals: true, args: argv, options, strict: true, tokens: true})
  } catch {
    return null
  }

  const seen = new Set<string>()
  for (const token of parsed.tokens ?? []) {
    if (token.kind === 'option-terminator') return null
    if (token.kind !== 'option') continue
    if (seen.has(token.name) || token.inlineValue !== undefined) return null
    seen.add(token.name)
  }

  const positionals = parsed.positionals
  if ((spec.positionals === 'none' && positionals.length > 0) || (spec.positionals === 'one' && positionals.length > 1)) return null
  if (positionals.some((p) => p.startsWith('-'))) return null
  const values = parsed.values as Record<string, boolean | undefined>
  const flags: Record<string, boolean> = {}
  for (const name of Object.keys(spec.flags)) flags[name] = values[name] === true
  return {flags, json: values.json === true, positionals}
}

/** Runs `preview <command> <argv>`; resolves with the exit code, or null to hand the command to oclif. */
export async function runFastCommand(command: string, argv: string[]): Promise<number | null> {
  const parsed = parseFastArgv(command, argv)
  if (!parsed) return null
  const io: Io = humanIo(parsed.json)
  try {
    const result = await FAST_COMMANDS[command]!.run(parsed.positionals, parsed.flags, io)
    if (parsed.json) resultJson(result)
    return 0
  } catch (error) {
    if (!isPreviewError(error)) throw error
    const out = renderError(error, parsed.json, command, [...Object.keys(FAST_COMMANDS[command]!.flags), 'json'])
    printRendered(out)
    return out.exitCode
  }
}
