// Files git does not have (.env and friends): copied from the working tree into a worktree before the dev server starts.
import {cpSync, existsSync, statSync} from 'node:fs'
import path from 'node:path'
import {InvalidInput} from '../errors.js'

/** Copied when `copy:` is not set, from the repository root and from the subdirectory started from, if they exist. */
const DEFAULT_COPY = ['.env', '.env.local', '.env.development', '.env.development.local'] as const

export interface CopyResult {
  /** Paths (relative to the worktree's top) copied in. */
  copied: string[]
  /** `copy:` entries that do not exist in the working tree (a warning: the app may miss them). */
  missing: string[]
}

/** The entries copyUntracked would look at (for asking git which of them it tracks). */
export function copyCandidates(entries: string[] | undefined, prefix: string): string[] {
  return entries ?? [...new Set(['', prefix].flatMap((dir) => DEFAULT_COPY.map((f) => path.join(dir, f))))]
}

/** Checks one `copy:` entry: a relative path that stays inside the repository. */
function checkEntry(entry: string, configFile: string): string {
  const clean = path.normalize(entry)
  if (entry === '' || path.isAbsolute(entry) || clean === '..' || clean.startsWith(`..${path.sep}`)) {
    throw new InvalidInput(
      `copy: entry "${entry}" in ${configFile} is not a path inside the repository.`,
      'List paths relative to the repository root, e.g. `copy: [.env, apps/web/.env.local]`.',
    )
  }

  return clean
}

/**
 * Copies untracked files from the working tree `from` into the worktree `to` (both their tops). `entries` are
 * paths relative to the repository root (`copy:` in preview.yaml); without them, DEFAULT_COPY is looked for at
 * the root and in `prefix` (a monorepo package). Files (and directories) already in the worktree are
 * replaced only when `overwrite` (preview's own worktrees; an agent's worktree keeps its own).
 */
export function copyUntracked(opts: {
  from: string
  to: string
  prefix: string
  entries?: string[] | undefined
  overwrite: boolean
  configFile: string
  /** Paths git tracks in the worktree: never replaced (the commit's version is what is served). */
  tracked?: ReadonlySet<string>
}): CopyResult {
  const explicit = opts.entries !== undefined
  const wanted = explicit ? opts.entries!.map((e) => checkEntry(e, opts.configFile)) : copyCandidates(undefined, opts.prefix)
  const copied: string[] = []
  const missing: string[] = []
  if (path.resolve(opts.from) === path.resolve(opts.to)) return {copied, missing}
  for (const entry of wanted) {
    const source = path.join(opts.from, entry)
    if (!existsSync(source)) {
      if (explicit) missing.push(entry)
      continue
    }

    const target = path.join(opts.to, entry)
    if (opts.tracked?.has(entry.split(path.sep).join('/'))) continue
    if (existsSync(target) && !opts.overwrite) continue
    cpSync(source, target, {errorOnExist: false, force: true, preserveTimestamps: true, recursive: statSync(source).isDirectory()})
    copied.push(entry)
  }

  return {copied, missing}
}
