// `preview start`'s flags, once: the oclif command builds its Flags from this table, and the start fast path
// (bin/run.js -> fast-start.ts) parses the same table with node:util parseArgs.
import {parseArgs, type ParseArgsConfig} from 'node:util'

export interface StartFlagSpec {
  type: 'string' | 'boolean'
  description: string
  /** Boolean flags that also take a --no- form, with their default. */
  allowNo?: boolean
  default?: boolean
}

export const START_FLAGS = {
  attach: {
    description: 'share a server that already listens on 127.0.0.1:PORT (no dev command, no worktree; stop leaves it running)',
    type: 'string',
  },
  auth: {description: 'token | basic | none (default token)', type: 'string'},
  clipboard: {allowNo: true, default: true, description: 'copy the URL to the clipboard (off in CI or without a TTY)', type: 'boolean'},
  command: {description: 'the dev command (overrides discovery)', type: 'string'},
  cwd: {description: 'run this directory as it is (instead of a worktree)', type: 'string'},
  expire: {description: 'link lifetime: 30s, 30m, 4h, 1d (default 4h, at most max_expire)', type: 'string'},
  foreground: {default: false, description: 'run the supervisor in this process until Ctrl-C', type: 'boolean'},
  'idle-ttl': {description: 'stop the dev server after this long without requests; the next request wakes it', type: 'string'},
  install: {
    allowNo: true,
    default: true,
    description: 'install dependencies in a fresh worktree (lockfile present, node_modules missing)',
    type: 'boolean',
  },
  open: {default: false, description: 'open the link in the default browser (on a terminal only)', type: 'boolean'},
  'list-commands': {default: false, description: 'print every candidate dev command in order and start nothing', type: 'boolean'},
  provider: {description: 'auto | cloudflared | ngrok | bore | tailscale | localtunnel | ssh | local | template | caddy', type: 'string'},
  qr: {default: false, description: 'print a QR code of the link, for phones', type: 'boolean'},
  'ready-timeout': {description: 'how long to wait for the dev server (default 30s)', type: 'string'},
  ref: {description: 'preview this branch, tag or commit in a worktree of its own', type: 'string'},
  'working-copy': {
    default: false,
    description: "run the repository's working tree as it is, uncommitted changes included",
    type: 'boolean',
  },
} as const satisfies Record<string, StartFlagSpec>

type Table = typeof START_FLAGS
/** Parsed flags, as oclif gives them: strings optional, booleans always set. */
export type StartFlags = {
  -readonly [K in keyof Table]: Table[K]['type'] extends 'boolean' ? boolean : string | undefined
}

/**
 * Parses `start`'s argv the way oclif would, or returns null for anything it should not decide (help, unknown
 * or repeated flags, positionals): oclif then handles the command, with its own messages.
 */
export function parseStartArgv(argv: string[]): {flags: StartFlags; json: boolean} | null {
  const options: NonNullable<ParseArgsConfig['options']> = {json: {type: 'boolean'}}
  for (const [name, spec] of Object.entries(START_FLAGS) as Array<[string, StartFlagSpec]>) {
    options[name] = {type: spec.type}
    if ('allowNo' in spec && spec.allowNo) options[`no-${name}`] = {type: 'boolean'}
  }

  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({allowPositionals: false, args: argv, options, strict: true, tokens: true})
  } catch {
    return null
  }

  const seen = new Set<string>()
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue
    const base = token.name.startsWith('no-') ? token.name.slice(3) : token.name
    if (seen.has(base)) return null // oclif refuses repeated flags; let it say so
    seen.add(base)
  }

  const values = parsed.values as Record<string, string | boolean | undefined>
  const flags: Record<string, string | boolean | undefined> = {}
  for (const [name, spec] of Object.entries(START_FLAGS) as Array<[string, StartFlagSpec]>) {
    if (spec.type === 'string') flags[name] = values[name] as string | undefined
    else if (values[`no-${name}`] === true) flags[name] = false
    else flags[name] = (values[name] as boolean | undefined) ?? spec.default ?? false
  }

  return {flags: flags as StartFlags, json: values.json === true}
}
