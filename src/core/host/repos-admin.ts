// The admin API's repository verbs (add, remove, pause, resume) and what the host writes down about them: the
// `--persist-repos` list and each repository's `.sdd/runtime/preview/serve.json` (what `preview list` and
// `preview cleanup` see).
import {InvalidInput} from '../errors.js'
import {procStartTime} from '../process.js'
import {openRepo, writePersisted, type RepoSpec, type ServedRepo} from './repos.js'
import type {RouteTable} from './routes.js'
import type {PreviewRunner} from './runner.js'
import type {HostState} from './state.js'
import {claimRepo, removeHostFile, writeHostFile} from './status-file.js'

/** The repository list, kept across restarts (`--persist-repos`). */
export function persist(state: HostState): void {
  if (state.opts.persistRepos !== null) writePersisted(state.opts.persistRepos, state.repos)
}

/** `serve.json` of each repository (or of one): its previews as they are now. */
export function writeStatusFiles(state: HostState, only?: ServedRepo): void {
  // One file per repository root (two labels may serve the same checkout).
  const roots = new Map((only ? [only] : state.repos).map((r) => [r.root, r]))
  for (const repo of roots.values()) {
    const previews = [...state.runners.values()]
      .filter((r) => r.spec.root === repo.root)
      .map((r) => {
        const st = r.status()
        const paused = state.repoOf(r)?.paused ?? false
        return {
          command: st.command,
          commit: st.commit,
          label: st.label,
          name: st.name,
          pid: st.pid,
          pid_start_time: st.pid ? procStartTime(st.pid) : null,
          port: st.port,
          ref: st.ref,
          status: paused ? 'paused' : st.status,
          url: state.publicUrl(state.signed(st.name)),
          worktree: r.worktreeDir,
        }
      })
    try {
      writeHostFile(repo.paths, {auth_mode: state.opts.auth, domain: state.opts.domain, previews, url: state.url})
    } catch {
      // a read-only .sdd must not take the host down; list just will not show it
    }
  }
}

const servedBy = (runner: PreviewRunner, repo: ServedRepo): boolean => runner.spec.root === repo.root && runner.spec.label === repo.label

/** POST /-/preview/repos/add: a labelled repository more; its names serve at once. */
export async function addRepo(state: HostState, routes: RouteTable, spec: RepoSpec): Promise<ServedRepo> {
  if (spec.label === null) throw new InvalidInput('A label is required.', 'POST {"label": "app", "path": "/srv/app"}.')
  if (state.repos.length === 1 && state.repos[0]!.label === null) {
    throw new InvalidInput(
      'This host serves one repository without a label (<ref>.<domain> names); it cannot take a second.',
      'Restart it with LABEL=PATH for each repository.',
    )
  }

  if (state.repos.some((r) => r.label === spec.label))
    throw new InvalidInput(`The label "${spec.label}" is already served.`, 'Remove it first, or pick another label.')
  const repo = await openRepo(spec)
  if (!state.repos.some((r) => r.root === repo.root)) await claimRepo(repo.paths, repo.root)
  state.repos.push(repo)
  writeStatusFiles(state, repo)
  routes.forgetHostPages()
  persist(state)
  state.logJson({event: 'repo-add', label: repo.label, path: repo.path})
  return repo
}

/** POST /-/preview/repos/remove: its dev servers stop, its names route no more. */
export async function removeRepo(state: HostState, routes: RouteTable, label: string): Promise<void> {
  const repo = state.findRepo(label)
  state.repos = state.repos.filter((r) => r !== repo)
  for (const [key, runner] of state.runners) {
    if (servedBy(runner, repo)) {
      state.runners.delete(key)
      await runner.stop()
    }
  }

  routes.dropRepo(repo)
  if (!state.repos.some((r) => r.root === repo.root)) removeHostFile(repo.paths)
  routes.forgetHostPages()
  persist(state)
  state.logJson({event: 'repo-remove', label})
}

/** POST /-/preview/repos/pause and resume: paused, its dev servers stop, its open sockets close, its names answer 503. */
export async function setPaused(state: HostState, routes: RouteTable, label: string, paused: boolean): Promise<ServedRepo> {
  const repo = state.findRepo(label)
  repo.paused = paused
  if (paused) {
    for (const runner of state.runners.values()) {
      if (!servedBy(runner, repo)) continue
      await runner.stop()
      for (const [key, r] of state.runners) if (r === runner) state.runners.delete(key)
      routes.forgetRunner(runner)
    }

    for (const c of state.listener?.connections() ?? []) {
      const b = c.currentRoute ? routes.bindingOf(c.currentRoute) : undefined
      if (b?.repo === repo) c.destroy()
    }
  }

  persist(state)
  writeStatusFiles(state, repo)
  state.logJson({event: paused ? 'repo-pause' : 'repo-resume', label})
  return repo
}
