// Refs as host names name them, resolved on a request: the default branch, a branch, tag or commit, and for a
// name not known yet one `git fetch` of its repository before the answer is "not found".
import {defaultBranch, fetchAll, lookupRef, type ResolvedRef, type ServedRepo} from './repos.js'

/** Fetches of one repository start at least this far apart. */
export const FETCH_INTERVAL_MS = 1000

export class RefResolver {
  private readonly fetches = new Map<string, {at: number; running: Promise<void> | null}>()

  constructor(private readonly log: (entry: Record<string, unknown>) => void) {}

  /** The ref a name stands for (null: the default branch), fetched once when unknown; null when there is none. */
  async resolve(repo: ServedRepo, name: string | null): Promise<ResolvedRef | null> {
    if (name === null) {
      const branch = await defaultBranch(repo.root)
      return branch === null ? null : {branch: true, ref: branch}
    }

    const found = await lookupRef(repo.root, name)
    if (found !== null) return found
    await this.fetch(repo, name)
    return lookupRef(repo.root, name)
  }

  /**
   * `git fetch` for an unknown ref. Requests that arrive while one is pending share it, and fetches of a repository
   * start at least FETCH_INTERVAL_MS apart (a request in between waits for the next one rather than being told 404
   * on stale refs), so made-up names cannot make the host fetch without end.
   */
  private fetch(repo: ServedRepo, name: string): Promise<void> {
    let state = this.fetches.get(repo.root)
    if (!state) {
      state = {at: 0, running: null}
      this.fetches.set(repo.root, state)
    }

    if (state.running) return state.running
    const st = state
    const wait = Math.max(0, st.at + FETCH_INTERVAL_MS - Date.now())
    st.running = new Promise<void>((resolve) => setTimeout(resolve, wait))
      .then(() => {
        st.at = Date.now()
        this.log({event: 'fetch', label: repo.label, ref: name})
        return fetchAll(repo.root)
      })
      .then(
        () => {},
        () => {},
      )
      .finally(() => {
        st.running = null
      })
    return st.running
  }
}
