// A preview's log (dev-server output and the supervisor's own [preview] lines, one file across restarts): its last
// lines (`preview logs`), and what is appended to it until the preview stops (`preview logs --follow`).
import {existsSync, readFileSync, statSync} from 'node:fs'
import {PreviewNotFound} from '../errors.js'
import {FileTail, followUntilGone} from '../records/follow.js'
import {logFile, type SddPaths} from '../records/paths.js'
import {findRow} from '../records/state.js'

/** How long `logs --follow` waits, once the row is gone, for the supervisor's last lines and exit. */
export const FOLLOW_EXIT_WAIT_MS = 5000

export interface LogTail {
  file: string
  lines: string[]
  /** The log's size when read: where following picks up, so nothing written in between is lost. */
  bytes: number
}

/** The log file of a preview: the one its row names, else where it would be (a preview that is gone). */
function previewLog(paths: SddPaths, id: string): string {
  const file = findRow(paths, id)?.log_file ?? logFile(paths, id)
  if (!existsSync(file)) throw new PreviewNotFound(id)
  return file
}

/** The last `lines` lines of a preview's log (default 100). */
export function readLogTail(paths: SddPaths, opts: {id: string; lines?: number}): LogTail {
  const file = previewLog(paths, opts.id)
  const text = readFileSync(file)
  const lines = text.toString('utf8').split('\n')
  if (lines.at(-1) === '') lines.pop()
  const n = opts.lines ?? 100
  return {bytes: text.length, file, lines: n <= 0 ? [] : lines.slice(-n)}
}

/**
 * Calls `onText` with what is appended to a preview's log from `fromByte` (default: its end now) until the
 * preview is gone (after its supervisor's last lines) or `signal` aborts.
 */
export async function followLog(opts: {
  paths: SddPaths
  id: string
  onText: (text: string) => void
  signal?: AbortSignal | undefined
  pollMs?: number | undefined
  fromByte?: number | undefined
}): Promise<void> {
  const file = previewLog(opts.paths, opts.id)
  const tail = new FileTail(file, opts.fromByte ?? statSync(file).size)
  await followUntilGone({
    // A stopping supervisor removes its row, then writes its last lines and exits; a dead one writes no more.
    graceMs: FOLLOW_EXIT_WAIT_MS,
    paths: opts.paths,
    ...(opts.pollMs === undefined ? {} : {pollMs: opts.pollMs}),
    previewId: opts.id,
    read() {
      const text = tail.readText()
      if (text) opts.onText(text)
    },
    settled: (supervisorAlive) => !supervisorAlive,
    signal: opts.signal,
  })
}
