// The repositories a host serves: their labels, .sdd paths and settings, refs as host names name them, and the
// list kept across restarts (--persist-repos).
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, rmSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {InvalidInput} from '../errors.js'
import {writeFileAtomic} from '../fsutil.js'
import {run} from '../process.js'
import {loadConfig, type PreviewConfig} from '../preview/config.js'
import {sddPaths, type SddPaths} from '../records/paths.js'
import {excludeSdd, repoRoot} from '../sandbox/resolve.js'
import {checkLabel, isDnsLabel, refSlug} from './names.js'

export interface RepoSpec {
  /** null: the one unlabelled repository of single-repository mode. */
  label: string | null
  path: string
  /** Kept paused across restarts (--persist-repos). */
  paused?: boolean
}

export interface ServedRepo extends Omit<RepoSpec, 'paused'> {
  /** For a git URL: the URL itself (path is it without credentials, root its clone). */
  url?: string
  root: string
  paths: SddPaths
  config: PreviewConfig
  paused: boolean
}

/** A git URL (`https://`, `ssh://`, `git://`, `file://`, or scp-like `user@host:path`) rather than a local path. */
export function isGitUrl(arg: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(arg) || /^[^/=\s]+@[^/:\s]+:/.test(arg)
}

/** A URL as it may be shown and logged: without its user:password (a token in an https URL is a secret). */
export function displayUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1')
}

/** `[LABEL=]PATH_OR_GIT_URL` as given on the command line. */
export function parseRepoArg(arg: string): RepoSpec {
  const eq = arg.indexOf('=')
  const labelled = eq > 0 && !arg.slice(0, eq).includes('/') && !isGitUrl(arg)
  const spec: RepoSpec = labelled ? {label: checkLabel(arg.slice(0, eq)), path: arg.slice(eq + 1)} : {label: null, path: arg}
  if (spec.path.startsWith('-')) throw new InvalidInput(`${spec.path}: not a path or a git URL.`, 'Pass [LABEL=]PATH or [LABEL=]GIT_URL.')
  return spec
}

/** Bound on cloning a served URL (a large repository over a slow link). */
export const CLONE_TIMEOUT_MS = 10 * 60_000

/** Where served URLs are cloned: PREVIEW_CLONES_DIR, else the user's cache directory. */
export function clonesDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PREVIEW_CLONES_DIR) return path.resolve(env.PREVIEW_CLONES_DIR)
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'preview', 'clones')
}

/**
 * The local clone of a served URL: made on first use (`git clone`), reused and fetched after that (a host that
 * restarts does not clone again). One directory per URL: its name, then a hash of the URL.
 */
export async function cloneOf(url: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const name = defaultLabel(url)
  const dir = path.join(clonesDir(env), `${name}-${createHash('sha256').update(url).digest('hex').slice(0, 12)}`)
  if (existsSync(path.join(dir, '.git'))) {
    // Best effort: an unreachable remote still serves what was fetched before.
    if (await fetchAll(dir)) await followUpstreams(dir)
    return dir
  }

  mkdirSync(path.dirname(dir), {recursive: true})
  const res = await run('git', ['clone', '--quiet', '--', url, dir], {cwd: path.dirname(dir), timeoutMs: CLONE_TIMEOUT_MS})
  if (res.exitCode !== 0) {
    rmSync(dir, {force: true, recursive: true})
    const why = (res.stderr || res.stdout).trim().split('\n').filter(Boolean).at(-1) ?? `exit ${res.exitCode}`
    throw new InvalidInput(
      `git clone ${displayUrl(url)} failed: ${displayUrl(why)}`,
      'Check the URL and that this host can reach it (an ssh key or a git credential helper for private ones), or clone it yourself and pass its path.',
    )
  }

  return dir
}

/**
 * In a clone the host made, every local branch is the remote's: each one with an upstream moves to its freshly
 * fetched tip (the previews' worktrees are reset to their branch when they start). Never done in a user's checkout.
 */
async function followUpstreams(clone: string): Promise<void> {
  const list = await git(clone, ['for-each-ref', '--format=%(refname) %(upstream)', 'refs/heads'])
  for (const line of list.exitCode === 0 ? list.stdout.split('\n') : []) {
    const [ref, upstream] = line.trim().split(' ')
    if (ref && upstream) await git(clone, ['update-ref', ref, upstream])
  }

  await git(clone, ['reset', '--hard', '--quiet']) // the clone's own checkout follows its branch too
}

/** Resolves a repository: its git top level (a URL: its clone), its .sdd, its preview.yaml. */
export async function openRepo(spec: RepoSpec, paused = false, env: NodeJS.ProcessEnv = process.env): Promise<ServedRepo> {
  if (isGitUrl(spec.path)) {
    const root = await cloneOf(spec.path, env)
    excludeSdd(root)
    const paths = sddPaths(path.join(root, '.sdd'))
    return {config: loadConfig(paths), label: spec.label, path: displayUrl(spec.path), paths, paused, root, url: spec.path}
  }

  const dir = path.resolve(spec.path)
  if (!existsSync(dir))
    throw new InvalidInput(`${spec.path} does not exist.`, 'Pass the path of a git checkout or a git URL ([LABEL=]PATH).')
  const root = await repoRoot(dir)
  excludeSdd(root)
  const paths = sddPaths(path.join(root, '.sdd'))
  return {config: loadConfig(paths), label: spec.label, path: dir, paths, paused, root}
}

/** Labels for repositories given without one when there are several: the directory name, made a DNS label. */
export function defaultLabel(dir: string): string {
  const base = isGitUrl(dir) ? (dir.replace(/\/+$/, '').split(/[/:]/).pop() ?? '').replace(/\.git$/, '') : path.basename(path.resolve(dir))
  const slug = refSlug(base).replaceAll(/-+/g, '-')
  return isDnsLabel(slug) ? slug : 'repo'
}

export interface ResolvedRef {
  /** The ref as git knows it: a branch name, a tag name, or a commit. */
  ref: string
  branch: boolean
  /** Set while looking up: the branch exists only on this remote. */
  remote?: string
}

async function git(root: string, args: string[]) {
  return run('git', args, {cwd: root, timeoutMs: 30_000})
}

/** The default branch: the branch the repository has checked out (else main, else master). */
export async function defaultBranch(root: string): Promise<string | null> {
  const head = await git(root, ['symbolic-ref', '--quiet', '--short', 'HEAD'])
  if (head.exitCode === 0 && head.stdout.trim()) return head.stdout.trim()
  for (const b of ['main', 'master']) if ((await git(root, ['show-ref', '--verify', '--quiet', `refs/heads/${b}`])).exitCode === 0) return b
  return null
}

/**
 * What a host name's ref stands for: a branch or tag whose name is it exactly, else the one branch or tag whose DNS
 * form (`feature/x` → `feature-x`) is it, else a commit named by 7-40 hex. Null when nothing (or several) match.
 */
export async function lookupRef(root: string, name: string): Promise<ResolvedRef | null> {
  const list = await git(root, ['for-each-ref', '--format=%(refname)', 'refs/heads', 'refs/tags', 'refs/remotes'])
  const refs = list.exitCode === 0 ? list.stdout.split('\n').filter(Boolean) : []
  const branches = refs.filter((r) => r.startsWith('refs/heads/')).map((r) => r.slice('refs/heads/'.length))
  const tags = refs.filter((r) => r.startsWith('refs/tags/')).map((r) => r.slice('refs/tags/'.length))
  // Remote branches as `remote/branch` (a served clone has its team's branches only there).
  const remote = refs.filter((r) => r.startsWith('refs/remotes/') && !r.endsWith('/HEAD')).map((r) => r.slice('refs/remotes/'.length))
  const ambiguous = (refs: string[]): never => {
    throw new InvalidInput(`"${name}" names several refs: ${refs.join(', ')}.`, 'Rename one of them, or ask for the commit by its hash.')
  }

  const pick = (match: (n: string) => boolean): ResolvedRef | null => {
    const b = branches.filter(match)
    if (b.length === 1) return {branch: true, ref: b[0]!}
    if (b.length > 1) return ambiguous(b)
    const r = remote.filter((x) => match(x.slice(x.indexOf('/') + 1)))
    if (r.length === 1) return {branch: true, ref: r[0]!.slice(r[0]!.indexOf('/') + 1), remote: r[0]!.slice(0, r[0]!.indexOf('/'))}
    // The same branch on several remotes is one branch only if they agree; else ask for one.
    if (r.length > 1) return ambiguous(r)
    const t = tags.filter(match)
    if (t.length === 1) return {branch: false, ref: `refs/tags/${t[0]!}`}
    return t.length > 1 ? ambiguous(t) : null
  }

  const found = pick((n) => n.toLowerCase() === name) ?? pick((n) => refSlug(n) === name)
  if (found !== null) {
    if (found.remote) {
      // A branch only the remote has: a local branch tracking it, so auto-pull fetches and resets to the remote tip.
      const made = await git(root, ['branch', '--track', found.ref, `${found.remote}/${found.ref}`])
      if (made.exitCode !== 0) return null
    }

    return {branch: found.branch, ref: found.ref}
  }

  if (/^[0-9a-f]{7,40}$/.test(name)) {
    const c = await git(root, ['rev-parse', '--verify', '--quiet', `${name}^{commit}`])
    if (c.exitCode === 0) return {branch: false, ref: c.stdout.trim()}
  }

  return null
}

/** `git fetch` of every remote (a no-op for a repository without one); false when it failed. */
export async function fetchAll(root: string): Promise<boolean> {
  const remotes = await git(root, ['remote'])
  if (remotes.exitCode !== 0 || remotes.stdout.trim() === '') return true
  const res = await run('git', ['fetch', '--quiet', '--all', '--prune'], {cwd: root, timeoutMs: 30_000})
  return res.exitCode === 0
}

interface PersistedRepos {
  version: 1
  repos: {label: string | null; path: string; paused: boolean}[]
}

/** Reads --persist-repos FILE (absent: nothing). */
export function readPersisted(file: string): PersistedRepos['repos'] {
  if (!existsSync(file)) return []
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as PersistedRepos
    if (!Array.isArray(doc.repos)) throw new Error('no "repos" list')
    return doc.repos
      .filter((r) => r && typeof r.path === 'string')
      .map((r) => ({label: r.label ?? null, path: r.path, paused: Boolean(r.paused)}))
  } catch (error) {
    throw new InvalidInput(
      `${file} is not a repository list: ${(error as Error).message}`,
      'Fix or remove the file given to --persist-repos.',
    )
  }
}

export function writePersisted(file: string, repos: ServedRepo[]): void {
  const doc: PersistedRepos = {repos: repos.map((r) => ({label: r.label, path: r.url ?? r.path, paused: r.paused})), version: 1}
  writeFileAtomic(file, `${JSON.stringify(doc, null, 2)}\n`)
}
