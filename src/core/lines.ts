// The one line splitter: text that arrives in pieces (a followed file, a child's output stream) cut into lines.
// A line still being written waits for its end; an unfinished line is bounded (a runaway line keeps its end).

export interface LineSplitterOptions {
  /** An unfinished line keeps only its last `maxLine` characters. */
  maxLine?: number
  /**
   * A lone carriage return also ends a line: tools redraw a progress line with \r (cloudflared, bore), and each
   * redraw is a line of its own. A \r at the end of a piece is held back, since it may be the start of \r\n.
   */
  crEndsLine?: boolean
}

/** Splits text into lines without their \n or \r\n (and \r, with `crEndsLine`). */
export class LineSplitter {
  private partial = ''
  private readonly maxLine: number
  private readonly crEndsLine: boolean

  constructor(opts: LineSplitterOptions | number = {}) {
    const o = typeof opts === 'number' ? {maxLine: opts} : opts
    this.maxLine = o.maxLine ?? Number.POSITIVE_INFINITY
    this.crEndsLine = o.crEndsLine ?? false
  }

  push(text: string): string[] {
    if (text === '') return []
    let all = this.partial + text
    if (!this.crEndsLine) {
      const parts = all.split('\n')
      this.partial = this.bound(parts.pop() ?? '')
      return parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
    }

    const held = all.endsWith('\r')
    if (held) all = all.slice(0, -1)
    const parts = all.split(/\r\n|\r|\n/)
    this.partial = this.bound(parts.pop() ?? '') + (held ? '\r' : '')
    return parts
  }

  /** The unfinished last line, once nothing more will come ('' when there is none). */
  end(): string {
    const rest = this.partial
    this.partial = ''
    return rest.endsWith('\r') ? rest.slice(0, -1) : rest
  }

  private bound(line: string): string {
    return line.length > this.maxLine ? line.slice(-this.maxLine) : line
  }
}
