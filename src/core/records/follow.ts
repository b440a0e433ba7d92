// The one file follower: a preview's log (`logs --follow`), its events and its request records (`events --follow`,
// `requests --follow`) are files another process appends to. FileTail reads what is new since the last read, as
// text or as whole lines; followUntilGone polls it until the preview is gone and its writer is done.
// Polling (every FOLLOW_POLL_MS) rather than fs.watch: these readers also end on a row leaving state.json and on
// a pid dying, which no file event reports, and a poll that finds nothing costs one fstat.
import {setTimeout as sleep} from 'node:timers/promises'
import {isAlive} from '../process.js'
import type {SddPaths} from './paths.js'
import {findRow} from './state.js'

export {FileTail, LineSplitter} from './file-tail.js'

/** How often a follower looks for more. */
export const FOLLOW_POLL_MS = 200
export interface FollowOptions {
  paths: SddPaths
  previewId: string
  /** Reads and hands on what is new: called on every poll, and once more at the end. */
  read(): void
  /**
   * Asked once the preview is gone (its row removed, or its supervisor dead): true when nothing more will be
   * written. Until then the follower keeps reading, for at most `graceMs`.
   */
  settled(supervisorAlive: boolean): boolean
  graceMs: number
  pollMs?: number
  signal?: AbortSignal | undefined
}

/**
 * Calls `read` every poll until the preview is gone and settled (or `graceMs` after it went), then once more;
 * or until `signal` aborts. A stopping supervisor removes its row before its last writes, hence the grace.
 */
export async function followUntilGone(opts: FollowOptions): Promise<void> {
  let last = findRow(opts.paths, opts.previewId) // the supervisor to watch once the row is gone
  let goneAt: number | null = null
  while (!opts.signal?.aborted) {
    opts.read()
    const row = findRow(opts.paths, opts.previewId)
    if (row) last = row
    const alive = last !== undefined && isAlive(last.supervisor_pid, last.supervisor_start_time)
    if (!row || !alive) {
      goneAt ??= Date.now()
      if (opts.settled(alive) || Date.now() - goneAt >= opts.graceMs) {
        opts.read() // whatever was written while it went
        return
      }
    }

    await sleep(opts.pollMs ?? FOLLOW_POLL_MS)
  }
}
