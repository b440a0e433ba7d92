// Which code a preview runs: --cwd as it is, --working-copy, a --ref worktree, the newest agent worktree, or
// HEAD in preview's own worktree (reset to HEAD's commit when free, a fresh one when a running preview uses it).
import {appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {randomBytes} from 'node:crypto'
import {InvalidInput, NotAGitRepository, PreviewError} from '../errors.js'
import {withLock} from '../lock.js'
import {isAlive, run} from '../process.js'
import type {SddPaths} from '../records/paths.js'
import type {SandboxBackend} from '../records/types.js'

export interface Sandbox {
  /** Where the dev server runs: the sandbox's top plus the subdirectory the start was made from. */
  cwd: string
  /** The sandbox's top: the worktree directory (or the --cwd / working-tree directory). */
  top: string
  backend: SandboxBackend
  sessionId: string | null
  /** Made by this start (a failed start removes it). */
  created: boolean
  /** One of preview's own worktrees (copied files may overwrite what is there). */
  owned: boolean
  /** The ref asked for (--ref), the branch served (null when detached), and the commit checked out. */
  ref: string | null
  branch: string | null
  commit: string | null
  /** Human words for where the code comes from (the `Serving ... from <where>` line). */
  where: string
  /** Uncommitted files in the repository that this sandbox does not include (0 when it includes them). */
  leftOut: number
  /** A kept worktree whose lockfile changed with the reset: its node_modules are stale, install again. */
  reinstall?: boolean
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

/** Preview's own HEAD worktree (kept and reset between starts), and the prefix of fresh ones when it is busy. */
export const HEAD_WORKTREE = 'preview-head'
/** The marker preview writes into the git admin dir of each worktree it makes (`git worktree remove` drops it). */
const OWNER_MARKER = 'preview-owned'
/**
 * Names preview gave its worktrees before the marker: ws-<date>-<time>-<rand> (HEAD), ref-<ref>-<rand> (--ref),
 * and host-<name> (`preview serve`).
 */
const LEGACY_NAMES = [/^ws-\d{8}-\d{6}-[0-9a-f]{6}$/, /^(ref-.+-[0-9a-f]{6}|host-.+)$/]

export interface WorktreeEntry {
  name: string
  dir: string
  mtimeMs: number
  /** Made by preview (`head` for a HEAD worktree, `ref` for a --ref one), or null for an agent's worktree. */
  owner: 'head' | 'ref' | null
}

/** The git admin directory of a linked worktree, from its `.git` file (no git process needed). */
function adminDir(worktree: string): string | null {
  try {
    const m = /^gitdir:\s*(.+)$/m.exec(readFileSync(path.join(worktree, '.git'), 'utf8'))
    return m?.[1] ? path.resolve(worktree, m[1].trim()) : null
  } catch {
    return null
  }
}

function ownerOf(name: string, dir: string): WorktreeEntry['owner'] {
  const admin = adminDir(dir)
  if (admin && existsSync(path.join(admin, OWNER_MARKER))) {
    return readFileSync(path.join(admin, OWNER_MARKER), 'utf8').trim() === 'ref' ? 'ref' : 'head'
  }

  if (name === HEAD_WORKTREE || name.startsWith(`${HEAD_WORKTREE}-`)) return 'head'
  if (LEGACY_NAMES[0]!.test(name)) return 'head'
  if (LEGACY_NAMES[1]!.test(name)) return 'ref'
  return null
}

/** Worktree directories under .sdd/worktrees, newest (mtime) first, each with who made it. */
export function listWorktrees(paths: SddPaths): WorktreeEntry[] {
  if (!existsSync(paths.worktrees)) return []
  return readdirSync(paths.worktrees, {withFileTypes: true})
    .filter((d) => d.isDirectory() && existsSync(path.join(paths.worktrees, d.name, '.git')))
    .map((d) => {
      const dir = path.join(paths.worktrees, d.name)
      return {dir, mtimeMs: statSync(dir).mtimeMs, name: d.name, owner: ownerOf(d.name, dir)}
    })
    .sort((a, b) => b.mtimeMs - a.mtimeMs)
}

function newSessionId(ref?: string): string {
  const rand = randomBytes(3).toString('hex')
  if (!ref) return `${HEAD_WORKTREE}-${rand}`
  // Named for the ref so `ls .sdd/worktrees` says what each is; every start gets its own directory.
  const slug =
    ref
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'ref'
  return `ref-${slug}-${rand}`
}

/** The commit a worktree (or any directory in a repo) has checked out, or null. */
export async function headCommit(dir: string): Promise<string | null> {
  const res = await run('git', ['rev-parse', '--verify', '--quiet', 'HEAD'], {cwd: dir, timeoutMs: 10_000})
  return res.exitCode === 0 ? res.stdout.trim() : null
}

/** The branch checked out in a directory, or null when HEAD is detached (or it is no repository). */
async function currentBranch(dir: string): Promise<string | null> {
  const res = await run('git', ['symbolic-ref', '--short', '--quiet', 'HEAD'], {cwd: dir, timeoutMs: 10_000})
  return res.exitCode === 0 && res.stdout.trim() ? res.stdout.trim() : null
}

/** Files with uncommitted changes (staged, unstaged or untracked; ignored files are not counted). */
export async function uncommittedFiles(dir: string): Promise<number> {
  const res = await run('git', ['status', '--porcelain=v1', '-z', '--untracked-files=all'], {cwd: dir, timeoutMs: 30_000})
  if (res.exitCode !== 0) return 0
  // -z: entries end in NUL; a rename carries its old path as a second NUL-terminated field.
  let count = 0
  const fields = res.stdout.split('\0').filter(Boolean)
  for (let i = 0; i < fields.length; i++) {
    count += 1
    if (/^[RC]/.test(fields[i]!)) i += 1
  }

  return count
}

/** The top of the working tree a directory is in, and the directory's path below it ('' at the top). */
export async function treePosition(dir: string): Promise<{top: string; prefix: string} | null> {
  const res = await run('git', ['rev-parse', '--show-toplevel', '--show-prefix'], {cwd: dir, timeoutMs: 10_000})
  if (res.exitCode !== 0) return null
  const [top, prefix = ''] = res.stdout.split('\n')
  return top ? {prefix: prefix.trim().replace(/\/$/, ''), top: top.trim()} : null
}

async function resolveCommit(root: string, ref: string): Promise<string> {
  const head = await run('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {cwd: root, timeoutMs: 10_000})
  if (head.exitCode !== 0) {
    throw ref === 'HEAD'
      ? new InvalidInput(
          `The repository at ${root} has no commits, so there is nothing to check out into a worktree.`,
          'Commit your work first, or pass --working-copy (or --cwd) to run the files as they are.',
        )
      : new InvalidInput(`Unknown git ref "${ref}".`, 'Pass a branch, tag or commit that exists (git branch -a, git tag).')
  }

  return head.stdout.trim()
}

/**
 * Creates a detached worktree of `ref` (HEAD by default) under .sdd/worktrees/<session>, marked as preview's own
 * (so a plain start never takes it for an agent's). Resolves with its directory and commit.
 */
export async function createWorktree(
  root: string,
  paths: SddPaths,
  ref = 'HEAD',
  sessionId = newSessionId(ref === 'HEAD' ? undefined : ref),
  owner: 'head' | 'ref' = ref === 'HEAD' ? 'head' : 'ref',
): Promise<{cwd: string; commit: string; sessionId: string}> {
  const commit = await resolveCommit(root, ref)
  mkdirSync(paths.worktrees, {recursive: true})
  const dir = path.join(paths.worktrees, sessionId)
  const res = await run('git', ['worktree', 'add', '--detach', dir, commit], {cwd: root, timeoutMs: 60_000})
  if (res.exitCode !== 0) {
    throw new PreviewError('WORKTREE_FAILED', `git worktree add failed: ${res.stderr.trim() || res.stdout.trim()}`, {
      hint: 'Check `git worktree list` and free disk space, or pass --working-copy.',
    })
  }

  const admin = adminDir(dir)
  if (admin) writeFileSync(path.join(admin, OWNER_MARKER), `${owner}\n`)
  return {commit, cwd: dir, sessionId}
}

/**
 * Brings a free HEAD worktree to `commit`: checkout, hard reset and removal of untracked files. Ignored files
 * (build caches, copied .env files) and node_modules (ignored or not) stay, so the next start needs no install.
 */
async function resetWorktree(dir: string, commit: string): Promise<{ok: boolean; lockfileChanged: boolean}> {
  // Kept dependencies are only right if no lockfile changed between the commit it held and this one.
  const before = await headCommit(dir)
  const diff = before ? await run('git', ['diff', '--name-only', '-z', before, commit], {cwd: dir, timeoutMs: 30_000}) : null
  const lockfileChanged = !diff || diff.exitCode !== 0 || diff.stdout.split('\0').some((f) => LOCKFILE_NAMES.has(path.basename(f)))
  for (const args of [
    ['checkout', '--quiet', '--force', '--detach', commit],
    ['reset', '--quiet', '--hard', commit],
    ['clean', '-d', '--force', '--quiet', '--exclude=node_modules'],
  ]) {
    const res = await run('git', args, {cwd: dir, timeoutMs: 60_000})
    if (res.exitCode !== 0) return {lockfileChanged, ok: false}
  }

  return {lockfileChanged, ok: true}
}

/** Lockfiles whose change means kept node_modules are stale (the clean install runs again). */
const LOCKFILE_NAMES = new Set(['package-lock.json', 'npm-shrinkwrap.json', 'pnpm-lock.yaml', 'yarn.lock', 'bun.lockb', 'bun.lock'])

export interface SandboxRequest {
  /** The main repository's top-level (git commands run here). */
  root: string
  paths: SddPaths
  /** The directory the user started from (its subdirectory is kept inside worktrees: monorepos). */
  startDir: string
  cwd?: string | undefined
  ref?: string | undefined
  workingCopy?: boolean | undefined
  /** Directories running previews use (a HEAD worktree in use is not reset under them). */
  inUse?: string[]
}

function checkConflicts(req: SandboxRequest): void {
  const picked = [req.cwd !== undefined && '--cwd', req.ref !== undefined && '--ref', req.workingCopy && '--working-copy'].filter(Boolean)
  if (picked.length > 1) {
    throw new InvalidInput(
      `${picked.join(' and ')} do not go together: each picks the code to run.`,
      'Use --ref to preview a branch, tag or commit in its own worktree, --working-copy to run your files as they are (uncommitted changes included), or --cwd to run another directory as it is.',
    )
  }
}

/** `dir` plus the subdirectory the start was made from, which must exist there. */
function below(top: string, prefix: string, what: string): string {
  if (!prefix) return top
  const dir = path.join(top, prefix)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new InvalidInput(
      `${prefix}/ does not exist in ${what} (${top}).`,
      'Start from the repository root, or commit that directory first, or pass --working-copy.',
    )
  }

  return dir
}

function rel(root: string, dir: string): string {
  const r = path.relative(root, dir)
  return r && !r.startsWith('..') ? r : dir
}

/** The directory start would run in, without creating anything (for --list-commands, so both agree). */
export async function planDir(req: SandboxRequest): Promise<string> {
  checkConflicts(req)
  if (req.cwd !== undefined) return path.resolve(req.cwd)
  if (req.workingCopy || req.ref !== undefined) return req.startDir
  const pos = await treePosition(req.startDir)
  const agent = listWorktrees(req.paths).find((w) => w.owner === null)
  if (agent) return path.join(agent.dir, pos?.prefix ?? '')
  return req.startDir // HEAD's tree: the working copy's files stand in for it
}

/** Resolves (and makes, when needed) the sandbox of a start, in the order the README gives. */
export async function resolveSandbox(req: SandboxRequest): Promise<Sandbox> {
  checkConflicts(req)
  if (req.cwd !== undefined) return cwdSandbox(req.cwd)
  const pos = await treePosition(req.startDir)
  if (!pos) throw new NotAGitRepository(req.startDir)
  if (req.workingCopy) return workingCopySandbox(req.startDir, pos.top)
  if (req.ref !== undefined) return refSandbox(req, req.ref, pos.prefix)
  // The newest worktree an agent left (preview's own never count: they hold whatever was asked for last).
  const agent = listWorktrees(req.paths).find((w) => w.owner === null)
  if (agent) return agentSandbox(req, agent, pos.prefix)
  return headSandbox(req, pos)
}

/** --cwd: that directory as it is. */
async function cwdSandbox(cwd: string): Promise<Sandbox> {
  const dir = path.resolve(cwd)
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new InvalidInput(
      `--cwd ${cwd} does not exist or is not a directory.`,
      'Pass an existing directory, or leave --cwd out to use a worktree.',
    )
  }

  const [commit, branch] = await Promise.all([headCommit(dir), currentBranch(dir)])
  return {
    backend: 'cwd',
    branch,
    commit,
    created: false,
    cwd: dir,
    leftOut: 0,
    owned: false,
    ref: null,
    sessionId: null,
    top: dir,
    where: dir,
  }
}

/** --working-copy: the user's files as they are, uncommitted changes included. */
async function workingCopySandbox(startDir: string, top: string): Promise<Sandbox> {
  const [commit, branch] = await Promise.all([headCommit(startDir), currentBranch(startDir)])
  return {
    backend: 'cwd',
    branch,
    commit,
    created: false,
    cwd: startDir,
    leftOut: 0,
    owned: false,
    ref: null,
    sessionId: null,
    top,
    where: 'working copy, uncommitted changes included',
  }
}

/** --ref: a fresh worktree of that branch, tag or commit (removed again when the subdirectory is not in it). */
async function refSandbox(req: SandboxRequest, ref: string, prefix: string): Promise<Sandbox> {
  const {commit, cwd: top, sessionId} = await createWorktree(req.root, req.paths, ref)
  const branch = (await isBranch(req.root, ref)) ? ref : null
  const base = {
    backend: 'worktree' as const,
    branch,
    commit,
    created: true,
    leftOut: 0,
    owned: true,
    ref,
    sessionId,
    top,
    where: `${rel(req.root, top)} (worktree of --ref ${ref})`,
  }
  try {
    return {...base, cwd: below(top, prefix, `${ref}'s worktree`)}
  } catch (error) {
    await removeWorktree(req.root, top)
    throw error
  }
}

/** The newest agent worktree, as the agent left it (never reset or overwritten: it is theirs). */
async function agentSandbox(req: SandboxRequest, agent: {dir: string; name: string}, prefix: string): Promise<Sandbox> {
  const [commit, branch] = await Promise.all([headCommit(agent.dir), currentBranch(agent.dir)])
  return {
    backend: 'worktree',
    branch,
    commit,
    created: false,
    cwd: below(agent.dir, prefix, `the agent worktree ${agent.name}`),
    leftOut: 0,
    owned: false,
    ref: null,
    sessionId: agent.name,
    top: agent.dir,
    where: `${rel(req.root, agent.dir)} (the newest agent worktree)`,
  }
}

/** HEAD of where the user is, in preview's own worktree. */
async function headSandbox(req: SandboxRequest, pos: {top: string; prefix: string}): Promise<Sandbox> {
  const [commit, branch, leftOut] = await Promise.all([
    resolveCommit(req.startDir, 'HEAD'),
    currentBranch(req.startDir),
    uncommittedFiles(pos.top),
  ])
  const {created, reinstall, top} = await claimHeadWorktree(req, commit)
  const base = {
    backend: 'worktree' as const,
    branch,
    commit,
    created,
    leftOut,
    owned: true,
    reinstall,
    ref: null,
    sessionId: path.basename(top),
    top,
    where: `${rel(req.root, top)} (preview's worktree at HEAD)`,
  }
  try {
    return {...base, cwd: below(top, pos.prefix, 'HEAD')}
  } catch (error) {
    if (created) await removeWorktree(req.root, top)
    throw error
  }
}

/** Who is about to use a HEAD worktree: the start that picked it, until its preview's row names it. */
const CLAIM_FILE = 'preview-claim'

/**
 * Picks a HEAD worktree no running preview (and no other start in flight) uses, resets it to `commit`, or
 * makes a fresh one; under a lock, so two starts at once never share one.
 */
async function claimHeadWorktree(req: SandboxRequest, commit: string): Promise<{top: string; created: boolean; reinstall: boolean}> {
  mkdirSync(req.paths.worktrees, {recursive: true})
  return withLock(path.join(req.paths.worktrees, '.head'), async () => {
    const claimed = (dir: string) => {
      const admin = adminDir(dir)
      if (!admin || !existsSync(path.join(admin, CLAIM_FILE))) return false
      const pid = Number(readFileSync(path.join(admin, CLAIM_FILE), 'utf8').trim())
      return pid !== process.pid && isAlive(pid)
    }

    const busy = (dir: string) => (req.inUse ?? []).some((u) => u === dir || u.startsWith(dir + path.sep)) || claimed(dir)
    const free = listWorktrees(req.paths)
      .filter((w) => w.owner === 'head' && (w.name === HEAD_WORKTREE || w.name.startsWith(`${HEAD_WORKTREE}-`)) && !busy(w.dir))
      .sort((a, b) => Number(b.name === HEAD_WORKTREE) - Number(a.name === HEAD_WORKTREE))
    let top: string | null = null
    let created = false
    let reinstall = false
    for (const w of free) {
      const reset = await resetWorktree(w.dir, commit)
      if (reset.ok) {
        top = w.dir
        reinstall = reset.lockfileChanged
        break
      }
    }

    if (!top) {
      const name = existsSync(path.join(req.paths.worktrees, HEAD_WORKTREE)) ? newSessionId() : HEAD_WORKTREE
      top = (await createWorktree(req.root, req.paths, commit, name, 'head')).cwd
      created = true
    }

    const admin = adminDir(top)
    if (admin) writeFileSync(path.join(admin, CLAIM_FILE), `${process.pid}\n`)
    return {created, reinstall, top}
  })
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
const PULL_TIMEOUT_MS = 60_000

/**
 * Brings a branch preview's worktree to the branch tip: fetches the branch's upstream when it has one, then
 * resets the (detached) worktree hard to the tip. Returns the new commit.
 */
export async function pullBranch(root: string, worktree: string, branch: string, timeoutMs = PULL_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs
  const left = () => Math.max(1000, deadline - Date.now())
  let target = `refs/heads/${branch}`
  const upstream = await run('git', ['rev-parse', '--abbrev-ref', '--symbolic-full-name', `${branch}@{upstream}`], {
    cwd: root,
    timeoutMs: left(),
  })
  if (upstream.exitCode === 0 && upstream.stdout.includes('/')) {
    const remote = upstream.stdout.trim().split('/')[0]!
    const fetched = await run('git', ['fetch', '--quiet', remote], {cwd: root, timeoutMs: left()})
    if (fetched.exitCode !== 0) {
      throw new PreviewError(
        'PULL_FAILED',
        `git fetch ${remote} failed${fetched.timedOut ? ' (timed out)' : ''}: ${fetched.stderr.trim()}`,
        {hint: 'Check the remote and your network, or restart without --pull.'},
      )
    }

    target = upstream.stdout.trim()
  }

  const reset = await run('git', ['reset', '--hard', '--quiet', target], {cwd: worktree, timeoutMs: left()})
  if (reset.exitCode !== 0) {
    throw new PreviewError('PULL_FAILED', `git reset --hard ${target} failed: ${reset.stderr.trim()}`, {
      hint: `Look at the worktree ${worktree} with git status.`,
    })
  }

  return (await headCommit(worktree)) ?? ''
}
