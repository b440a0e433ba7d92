// The dev server's process as both the CLI (which starts it at once) and the supervisor (which adopts it) see it.
import {watch} from 'node:fs'
import {isAlive} from '../process.js'
import {FileTail} from '../records/file-tail.js'

/** The environment a dev server gets: PORT and HOST=127.0.0.1 (WDS_SOCKET_PORT=0: CRA's HMR socket uses the page's port). */
export function devServerEnv(env: Record<string, string>, port: number): Record<string, string> {
  return {WDS_SOCKET_PORT: '0', ...env, HOST: '127.0.0.1', PORT: String(port)}
}

/** A dev server the CLI started (output into the log file) for the supervisor to adopt. */
export interface AdoptedDevServer {
  pid: number
  startTime: number | null
  /** Where its output starts in the log file. */
  logOffset: number
}

/** How often an adopted (not our child) dev server is checked for exit. */
export const ADOPTED_EXIT_POLL_MS = 100

/** Resolves (with null: the exit code of a process that is not our child is unknown) once `pid` is gone. */
export function watchExit(pid: number, startTime: number | null): Promise<number | null> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (isAlive(pid, startTime)) return
      clearInterval(timer)
      resolve(null)
    }, ADOPTED_EXIT_POLL_MS)
    // The watch alone keeps no process alive: a supervisor that has killed the server exits without waiting for
    // the next tick (up to 100 ms on every stop).
    timer.unref()
  })
}

/**
 * The shell line that runs an adopted dev server: the command in an inner shell, then its exit code written to
 * the log (stderr goes there), since the supervisor is not its parent and cannot wait for it.
 */
export const ADOPT_WRAPPER = 'sh -c "$1"; echo "[preview] dev server exit code $?" >&2'
export const EXIT_MARKER = /^\[preview] dev server exit code (\d+)$/

/**
 * Follows a log file from `offset`, calling `onLine` for each complete line as it is written (inotify via
 * fs.watch, not polling; the reading is records/file-tail.ts's, shared with the CLI's followers). Returns stop().
 */
export function followLines(file: string, offset: number, onLine: (line: string) => void): () => void {
  // A runaway line (no newline for 64 KiB) keeps only its end, so memory stays bounded.
  const tail = new FileTail(file, offset, {maxLine: 64 * 1024})
  let stopped = false
  const drain = () => {
    if (stopped) return
    for (const line of tail.readLines()) onLine(line)
  }

  const watcher = watch(file, () => drain())
  drain()
  return () => {
    drain()
    stopped = true
    watcher.close()
  }
}
