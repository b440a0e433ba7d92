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
  /** The ref asked for (--ref), and the commit the worktree holds. */
  ref: string | null
  commit: string | null
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

export function newSessionId(ref?: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')
  const rand = randomBytes(3).toString('hex')
  if (!ref) return `ws-${stamp}-${rand}`
  // Named for the ref so `ls .sdd/worktrees` says what each is; every start gets its own directory.
  const slug = ref.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'ref'
  return `ref-${slug}-${rand}`
}

/** The commit a worktree (or any directory in a repo) has checked out, or null. */
export async function headCommit(dir: string): Promise<string | null> {
  const res = await run('git', ['rev-parse', 'HEAD'], {cwd: dir, timeoutMs: 10_000})
  return res.exitCode === 0 ? res.stdout.trim() : null
}

/** Creates a detached worktree of `ref` (HEAD by default) under .sdd/worktrees/<session>. */
export async function createWorktree(root: string, paths: SddPaths, ref = 'HEAD', sessionId = newSessionId(ref === 'HEAD' ? undefined : ref)): Promise<Sandbox> {
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

  return {backend: 'worktree', commit: head.stdout.trim(), created: true, cwd: dir, ref: ref === 'HEAD' ? null : ref, sessionId}
}

/** Resolves the sandbox for a start: explicit --cwd, else the newest worktree, else a fresh one. */
export async function resolveSandbox(opts: {root: string; paths: SddPaths; cwd?: string | undefined; ref?: string | undefined}): Promise<Sandbox> {
  if (opts.cwd && opts.ref) throw new InvalidInput('--cwd and --ref do not go together.', 'Use --ref to preview a branch, tag or commit in its own worktree, or --cwd to run a directory as it is.')
  if (opts.ref) return createWorktree(opts.root, opts.paths, opts.ref)
  if (opts.cwd) {
    const dir = path.resolve(opts.cwd)
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new InvalidInput(`--cwd ${opts.cwd} does not exist or is not a directory.`, 'Pass an existing directory, or leave --cwd out to use a worktree.')
    }

    return {backend: 'cwd', commit: await headCommit(dir), created: false, cwd: dir, ref: null, sessionId: null}
  }

  const newest = listWorktrees(opts.paths)[0]
  if (newest) return {backend: 'worktree', commit: await headCommit(newest.dir), created: false, cwd: newest.dir, ref: null, sessionId: newest.name}
  return createWorktree(opts.root, opts.paths)
}

/** Removes a worktree this start created (rollback). */
export async function removeWorktree(root: string, dir: string): Promise<void> {
  await run('git', ['worktree', 'remove', '--force', dir], {cwd: root, timeoutMs: 30_000})
}

/** True when `ref` names a local branch (so a preview of it can be refreshed with restart --pull). */
export async function isBranch(root: string, ref: string): Promise<boolean> {
  const res = await run('git', ['show-ref', '--verify', '--quiet', `refs/heads/${ref}`], {cwd: root, timeoutMs: 10_000})
  return res.exitCode === 0
}

/** Bound on fetch + reset for `restart --pull`. */
export const PULL_TIMEOUT_MS = 60_000

/**
 * Brings a branch preview's worktree to the branch tip: fetches the branch's upstream when it has one, then
 * resets the (detached) worktree hard to the tip. Returns the new commit.
 */
export async function pullBranch(root: string, worktree: string, branch: string, timeoutMs = PULL_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs
  const left = () => Math.max(1000, deadline - Date.now())
  let target = `refs/heads/${branch}`
  const upstream = await run('git', ['rev-parse', '--abbrev-ref', '--symbolic-full-name', `${branch}@{upstream}`], {cwd: root, timeoutMs: left()})
  if (upstream.exitCode === 0 && upstream.stdout.includes('/')) {
    const remote = upstream.stdout.trim().split('/')[0]!
    const fetched = await run('git', ['fetch', '--quiet', remote], {cwd: root, timeoutMs: left()})
    if (fetched.exitCode !== 0) {
      throw new PreviewError('PULL_FAILED', `git fetch ${remote} failed${fetched.timedOut ? ' (timed out)' : ''}: ${fetched.stderr.trim()}`, {hint: 'Check the remote and your network, or restart without --pull.'})
    }

    target = upstream.stdout.trim()
  }

  const reset = await run('git', ['reset', '--hard', '--quiet', target], {cwd: worktree, timeoutMs: left()})
  if (reset.exitCode !== 0) {
    throw new PreviewError('PULL_FAILED', `git reset --hard ${target} failed: ${reset.stderr.trim()}`, {hint: `Look at the worktree ${worktree} with git status.`})
  }

  return (await headCommit(worktree)) ?? ''
}
