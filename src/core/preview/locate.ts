// Where a command's records live: the .sdd directory of the repository it runs in (or PREVIEW_SDD_DIR).
import path from 'node:path'
import {sddPaths, type SddPaths} from '../records/paths.js'
import {repoRoot} from '../sandbox/resolve.js'

/** What every verb starts from: the directory the user is in and the environment. */
export interface ManagerContext {
  cwd: string
  env: NodeJS.ProcessEnv
}

export interface Located {
  root: string | null
  sddDir: string
  paths: SddPaths
}

/** The .sdd directory: PREVIEW_SDD_DIR, else <repo root>/.sdd (not a repository: NotAGitRepository). */
export async function locate(ctx: ManagerContext, dir = ctx.cwd, knownRoot?: string): Promise<Located> {
  if (ctx.env.PREVIEW_SDD_DIR) {
    const sddDir = path.resolve(ctx.env.PREVIEW_SDD_DIR)
    let root: string | null = knownRoot ?? null
    try {
      root ??= await repoRoot(dir)
    } catch {
      root = null
    }

    return {paths: sddPaths(sddDir), root, sddDir}
  }

  const root = knownRoot ?? (await repoRoot(dir))
  const sddDir = path.join(root, '.sdd')
  return {paths: sddPaths(sddDir), root, sddDir}
}
