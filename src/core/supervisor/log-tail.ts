// The dev server's last lines, kept for the errors of a start that fails (they are the first thing to read).
import {StartFailed, isPreviewError, type PreviewError} from '../errors.js'
import {stripAnsi} from '../discovery/port-capture.js'

/** Lines kept. */
export const LOG_TAIL = 20

export class LogTail {
  private lines: string[] = []

  /** Raw lines in: they are only cleaned if an error shows them. */
  push(line: string): void {
    this.lines.push(line)
    if (this.lines.length > LOG_TAIL) this.lines.shift()
  }

  clear(): void {
    this.lines = []
  }

  /** The last lines, without colour codes. */
  clean(): string[] {
    return this.lines.map((l) => stripAnsi(l))
  }

  /** The lines for an error's details (saying so when there are none). */
  details(): string[] {
    const tail = this.clean()
    return tail.length > 0 ? [`last ${tail.length} lines of the dev server's log:`, ...tail] : ['(the dev server printed nothing)']
  }

  /** `error` as a PreviewError that shows the last lines (unless it already carries details of its own). */
  attachTo(error: unknown): PreviewError {
    const tail = this.clean()
    if (isPreviewError(error)) {
      if (error.details.length === 0 && tail.length > 0) error.details.push(`last ${tail.length} lines of the dev server's log:`, ...tail)
      return error
    }

    return new StartFailed(
      `Start failed: ${(error as Error).message}`,
      tail.length > 0 ? [`last ${tail.length} lines of the dev server's log:`, ...tail] : [],
    )
  }
}
