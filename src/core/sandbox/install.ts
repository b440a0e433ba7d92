// Dependencies in fresh worktrees: the package manager's clean install when a lockfile is present and node_modules is not.
import {existsSync} from 'node:fs'
import path from 'node:path'
import {detectPackageManager, type PackageManager} from '../discovery/commands.js'

/** Bound on the install step (a cold npm ci of a large app takes minutes). */
export const INSTALL_TIMEOUT_MS = 15 * 60_000

const CLEAN_INSTALL: Record<PackageManager, string> = {
  bun: 'bun install --frozen-lockfile',
  npm: 'npm ci',
  pnpm: 'pnpm install --frozen-lockfile',
  yarn: 'yarn install --frozen-lockfile',
}

/**
 * The install command to run before the dev command, or null: none when --no-install, when node_modules is
 * already there (and not stale), or when there is no lockfile (nothing to install reproducibly). `install` in preview.yaml
 * replaces the package manager's command.
 */
export function installCommand(cwd: string, opts: {configured?: string | undefined; skip?: boolean; stale?: boolean}): string | null {
  if (opts.skip) return null
  // `stale`: node_modules kept from another commit whose lockfile differs (a reset HEAD worktree).
  if (existsSync(path.join(cwd, 'node_modules')) && !opts.stale) return null
  const {lockfile, manager} = detectPackageManager(cwd)
  if (opts.configured) return opts.configured
  if (!lockfile) return null
  return CLEAN_INSTALL[manager]
}
