// The preview's links while it runs: new and revoked links are written to state.json by other processes
// (`preview share`, `preview revoke`), so the file is polled and the gateway told; wrong-shaped links are put
// back; a row removed behind our back ends the preview; and the link's expiry ends it too.
import {unwatchFile, watchFile} from 'node:fs'
import type {SddPaths} from '../records/paths.js'
import {LastGoodLinks, linkProblems} from '../records/row-links.js'
import {readStateChecked, updateState, type StateRead} from '../records/state.js'
import type {LinkRecord, PreviewRow} from '../records/types.js'

/** How often state.json is looked at for revocations and new links. */
export const LINKS_POLL_MS = 300

export interface LinkWatcherOptions {
  paths: SddPaths
  previewId: string
  event: (text: string) => void
  /** The gateway's links, replaced. */
  setLinks: (links: LinkRecord[]) => void
  /** Our row is gone from a readable state.json: nobody can stop this preview any more, so it stops itself. */
  orphaned: () => void
  /** True once the preview is stopping (its own row removal is not an orphaning). */
  stopping: () => boolean
}

export class LinkWatcher {
  /** The links last read cleanly from our row: kept when state.json has them in a wrong shape. */
  private readonly goodLinks: LastGoodLinks
  /** A fact for the log: our row was missing but an unidentifiable row was there (logged once until it is back). */
  private unidentifiedSeen = false
  private expiryTimer: NodeJS.Timeout | null = null
  private readonly listener = () => this.onStateChange()

  constructor(private readonly opts: LinkWatcherOptions) {
    this.goodLinks = new LastGoodLinks(opts.previewId, opts.event)
  }

  /** The links the preview was started with (its own write). */
  seed(links: LinkRecord[]): void {
    this.goodLinks.links = links
  }

  /** Polls state.json (picked up within a second) and arms the expiry. */
  watch(expiresAtEpoch: number, onExpiry: () => void): void {
    this.expiryTimer = setTimeout(onExpiry, Math.max(0, expiresAtEpoch * 1000 - Date.now()))
    watchFile(this.opts.paths.state, {interval: LINKS_POLL_MS}, this.listener)
  }

  close(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer)
    this.expiryTimer = null
    unwatchFile(this.opts.paths.state, this.listener)
  }

  /** The row's links as state.json has them now (null when unreadable, wrong-shaped or the row is gone). */
  currentLinks(): PreviewRow['links'] | null {
    try {
      const read = readStateChecked(this.opts.paths)
      if (linkProblems(read.problems, this.opts.previewId).length > 0) return null
      return read.state.previews.find((r) => r.preview_id === this.opts.previewId)?.links ?? null
    } catch {
      return null
    }
  }

  /**
   * state.json changed: pick up new and revoked links. If our row is gone (state.json deleted or reset, the
   * repository removed), nobody can reach this preview any more to stop it: stop by ourselves rather than run
   * until expiry as an orphan. An unreadable file is left alone (keep serving; `preview` reports the file), and
   * so is a row that cannot be identified (it may be ours). Wrong-shaped links: keep ours and write them back.
   */
  private onStateChange(): void {
    const {opts} = this
    let read: StateRead
    try {
      read = readStateChecked(opts.paths)
    } catch {
      return
    }

    const row = read.state.previews.find((r) => r.preview_id === opts.previewId)
    if (!row) {
      if (opts.stopping()) return
      if (read.unreadable.length > 0) {
        if (!this.unidentifiedSeen) opts.event('state.json has a row without a readable preview_id (it may be this one): still serving')
        this.unidentifiedSeen = true
        return
      }

      opts.event('this preview is no longer in state.json: stopping')
      opts.orphaned()
      return
    }

    this.unidentifiedSeen = false
    const {links, repair} = this.goodLinks.take(row, read.problems)
    opts.setLinks(links)
    if (repair) void this.repairLinks()
  }

  /** Puts the links we serve back into our row, if they are still wrong-shaped there (under the lock). */
  private async repairLinks(): Promise<void> {
    const {opts} = this
    await updateState(
      opts.paths,
      (state, problems) => {
        const row = state.previews.find((r) => r.preview_id === opts.previewId)
        if (row && linkProblems(problems, opts.previewId).length > 0) row.links = this.goodLinks.merge(row.links)
      },
      {repair: {fields: ['links'], preview_id: opts.previewId}},
    ).catch((error: unknown) => opts.event(`could not put the links back into state.json: ${(error as Error).message}`))
  }
}
