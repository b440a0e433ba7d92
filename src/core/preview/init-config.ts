// `preview init`: a commented .sdd/preview.yaml from what discovery finds, so the settings are one edit away.
import {existsSync} from 'node:fs'
import path from 'node:path'
import {PreviewError} from '../errors.js'
import {ensureDir, writeFileAtomic} from '../fsutil.js'
import {discoverCommands} from '../discovery/commands.js'
import {installCommand} from '../sandbox/install.js'
import type {SddPaths} from '../records/paths.js'
import {PROVIDERS} from '../records/types.js'

export interface InitResult {
  config_file: string
  /** The dev command written (null: discovery found none; the line is left commented). */
  command: string | null
  source: string | null
  /** Every candidate discovery found, in order. */
  candidates: Array<{command: string; source: string}>
  overwritten: boolean
}

/** A YAML scalar: JSON strings are valid YAML and need no escaping rules of their own. */
const q = (s: string) => JSON.stringify(s)

/** The file's text: every setting with a comment; the ones discovery could not decide are commented out. */
function renderConfig(found: {
  command: string | null
  source: string | null
  others: string[]
  install: string | null
  runtimeHints: string[]
}): string {
  const lines = [
    '# .sdd/preview.yaml: settings for `preview start` in this repository, written by `preview init`.',
    '# Flags win over these; these win over the defaults. Delete a line to use the default.',
    '',
  ]
  if (found.command) {
    lines.push(`# The dev command. Found: ${found.source}.`)
    for (const other of found.others) lines.push(`#   also found: ${other}`)
    lines.push(`command: ${q(found.command)}`)
  } else {
    lines.push(
      '# The dev command. Discovery found none (no package.json dev/start script, no Procfile): set it here.',
      '# command: "npm run dev"',
    )
  }

  lines.push('', '# Run before the dev command in a fresh worktree (default: the clean install the lockfile names).')
  lines.push(found.install ? `# install: ${q(found.install)}` : '# install: "npm ci"')
  for (const hint of found.runtimeHints) lines.push(`# runtime (.tool-versions): ${hint}`)
  lines.push(
    '',
    `# Tunnel provider: auto | ${PROVIDERS.join(' | ')}`,
    'provider: auto',
    '# token (JWT link, default) | basic (user preview + random password) | none (warns)',
    'auth: token',
    'expire: 4h          # link lifetime (30s, 30m, 4h, 1d)',
    'max_expire: 24h     # --expire above this is refused with exit 2',
    "ready_timeout: 30s  # how long to wait for the dev server's port",
    'max_restarts: 3     # crash restarts before the preview stops with reason crash',
    '# idle_ttl: 10m     # stop the dev server after this long without requests; the next request wakes it',
    '',
    '# Per-provider settings: see .sdd.example/preview.yaml in the preview package, or docs/tunnels.md.',
    '# providers:',
    '#   bore:',
    '#     server: bore.pub',
    '',
  )
  return lines.join('\n')
}

/** Writes the file (0600, atomically); bad input (exit 2) when it exists and `force` is not set. */
export function initConfig(opts: {paths: SddPaths; dir: string; force?: boolean}): InitResult {
  const file = opts.paths.config
  const existed = existsSync(file)
  if (existed && !opts.force) {
    throw new PreviewError('CONFIG_EXISTS', `${file} already exists; init leaves it as it is.`, {
      hint: 'Edit it, or run `preview init --force` to replace it with a fresh one.',
      kind: 'bad-input',
    })
  }

  // The existing file's own command is not a finding: --force starts from what the repository itself says.
  const discovery = discoverCommands({configFile: file, cwd: opts.dir})
  const [first, ...rest] = discovery.candidates
  ensureDir(path.dirname(file))
  writeFileAtomic(
    file,
    renderConfig({
      command: first?.command ?? null,
      install: installCommand(opts.dir, {}) ?? null,
      others: rest.map((c) => `${c.command} (${c.source})`),
      runtimeHints: discovery.runtimeHints,
      source: first?.source ?? null,
    }),
  )
  return {
    candidates: discovery.candidates,
    command: first?.command ?? null,
    config_file: file,
    overwritten: existed,
    source: first?.source ?? null,
  }
}
