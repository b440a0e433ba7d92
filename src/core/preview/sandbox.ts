// Where the dev server runs: an explicit --cwd, the newest agent worktree, or a fresh detached worktree of HEAD.
import {appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync} from 'node:fs'
import path from 'node:path'
import {randomBytes} from 'node:crypto'
import {InvalidInput, NotAGitRepository, PreviewError} from '../errors.js'
import {run} from '../process.js'
import type {SddPaths} from './paths.js'
import type {SandboxBackend} from './types.js'

export interface Sandbox {
  cwd: string
  backend: SandboxBackend
  sessionId: string | null
  created: boolean
}

/** The main repository's top-level for a directory (a linked worktree resolves to the repo that owns it). */
export async function repoRoot(dir: string): Promise<string> {
  if (!existsSync(dir)) throw new InvalidInput(`The directory ${dir} does not exist.`, 'Pass --cwd pointing at an existing directory.')
  const res = await run('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], {cwd: dir, timeoutMs: 10_000})
  if (res.exitCode !== 0) throw new NotAGitRepository(dir)
  const common = res.stdout.trim()
  // For a normal or linked worktree the common dir is <root>/.git
  if (path.basename(common) === '.git') return path.dirname(common)
  const top = await run('git', ['rev-parse', '--show-toplevel'], {cwd: dir, timeoutMs: 10_000})
  if (top.exitCode !== 0) throw new NotAGitRepository(dir)
  return top.stdout.trim()
}

/** Keeps .sdd/ out of `git status` by listing it in the repo's .git/info/exclude (once). */
export function excludeSdd(root: string): void {
  const gitDir = path.join(root, '.git')
  if (!existsSync(gitDir) || !statSync(gitDir).isDirectory()) return
  const file = path.join(gitDir, 'info', 'exclude')
  const current = existsSync(file) ? readFileSync(file, 'utf8') : ''
  if (current.split(/\r?\n/).some((l) => l.trim() === '.sdd/' || l.trim() === '/.sdd/')) return
  mkdirSync(path.dirname(file), {recursive: true})
  appendFileSync(file, `${current && !current.endsWith('\n') ? '\n' : ''}.sdd/\n`)
}

/** Worktree directories under .sdd/worktrees, newest (mtime) first. */
export function listWorktrees(paths: SddPaths): Array<{name: string; dir: string; mtimeMs: number}> {
  if (!existsSync(paths.worktrees)) return []
  return readdirSync(paths.worktrees, {withFileTypes: true})
    .filter((d) => d.isDirectory() && existsSync(path.join(paths.worktrees, d.name, '.git')))
    .map((d) => {
      const dir = path.join(paths.worktrees, d.name)
      return {dir, mtimeMs: statSync(dir).mtimeMs, name: d.name}
    })
    .sort((a, b) => b.mtimeMs - a.mtimeMs)
}

export function newSessionId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')
  return `ws-${stamp}-${randomBytes(3).toString('hex')}`
}

/** Creates a detached worktree of `ref` (HEAD by default) under .sdd/worktrees/<session>. */
export async function createWorktree(root: string, paths: SddPaths, ref = 'HEAD', sessionId = newSessionId()): Promise<Sandbox> {
  const head = await run('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {cwd: root, timeoutMs: 10_000})
  if (head.exitCode !== 0) {
    throw ref === 'HEAD'
      ? new InvalidInput(`The repository at ${root} has no commits, so there is nothing to check out into a worktree.`, 'Commit your work first, or pass --cwd to run in a directory as it is.')
      : new InvalidInput(`Unknown git ref "${ref}".`, 'Pass a branch, tag or commit that exists (git branch -a, git tag).')
  }

  mkdirSync(paths.worktrees, {recursive: true})
  const dir = path.join(paths.worktrees, sessionId)
  const res = await run('git', ['worktree', 'add', '--detach', dir, head.stdout.trim()], {cwd: root, timeoutMs: 60_000})
  if (res.exitCode !== 0) {
    throw new PreviewError('WORKTREE_FAILED', `git worktree add failed: ${res.stderr.trim() || res.stdout.trim()}`, {
      hint: 'Check `git worktree list` and free disk space, or pass --cwd.',
    })
  }

  return {backend: 'worktree', created: true, cwd: dir, sessionId}
}

/** Resolves the sandbox for a start: explicit --cwd, else the newest worktree, else a fresh one. */
export async function resolveSandbox(opts: {root: string; paths: SddPaths; cwd?: string | undefined}): Promise<Sandbox> {
  if (opts.cwd) {
    const dir = path.resolve(opts.cwd)
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new InvalidInput(`--cwd ${opts.cwd} does not exist or is not a directory.`, 'Pass an existing directory, or leave --cwd out to use a worktree.')
    }

    return {backend: 'cwd', created: false, cwd: dir, sessionId: null}
  }

  const newest = listWorktrees(opts.paths)[0]
  if (newest) return {backend: 'worktree', created: false, cwd: newest.dir, sessionId: newest.name}
  return createWorktree(opts.root, opts.paths)
}

/** Removes a worktree this start created (rollback). */
export async function removeWorktree(root: string, dir: string): Promise<void> {
  await run('git', ['worktree', 'remove', '--force', dir], {cwd: root, timeoutMs: 30_000})
}
