// The start progress display on stderr: one updating line on a TTY, plain lines otherwise; NO_COLOR honoured.
// On a TTY the line is redrawn every TICK_MS while a step waits (the dev server's boot can take 10 s or more), so
// the seconds keep counting, and it shows the dev server's latest output line from its log file.
import {closeSync, fstatSync, openSync, readSync} from 'node:fs'
import {stripAnsi} from '../core/ansi.js'
import {noteText} from './output.js'

const COLOR = !process.env.NO_COLOR && process.stderr.isTTY
/** How often the TTY line is redrawn while waiting. */
const TICK_MS = 250
/** How much of the log's end is read to find its latest line. */
const TAIL_BYTES = 4096

/** The latest line a dev server wrote to its log: not the supervisor's own [preview] lines, no colour codes. */
function latestOutputLine(file: string): string | null {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch {
    return null
  }

  try {
    const size = fstatSync(fd).size
    const start = Math.max(0, size - TAIL_BYTES)
    const buf = Buffer.alloc(size - start)
    readSync(fd, buf, 0, buf.length, start)
    const lines = buf.toString('utf8').split('\n')
    for (let i = lines.length - 1; i >= (start === 0 ? 0 : 1); i--) {
      const line = stripAnsi(lines[i] ?? '').trim()
      // The supervisor's own lines (the adoption wrapper's exit marker among them) are not the dev server's.
      if (line && !line.startsWith('[preview] ')) return line
    }

    return null
  } finally {
    closeSync(fd)
  }
}

/** Shows each step of a start as it happens (discover, sandbox, install, dev server, port, tunnel, link). */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY)
  private readonly started = Date.now()
  private last = ''
  private step_ = ''
  private detail = ''
  private logFile: string | null = null
  private timer: NodeJS.Timeout | null = null

  constructor(private readonly enabled: boolean) {}

  /** The dev server's log: its latest line is shown on the TTY line while the start waits. */
  setLogFile(file: string): void {
    this.logFile = file
  }

  step(step: string, detail: string): void {
    if (!this.enabled) return
    this.step_ = step
    this.detail = detail
    if (!this.tty) {
      noteText(`${this.prefix()}${detail}\n`)
      return
    }

    this.draw()
    if (!this.timer) {
      this.timer = setInterval(() => this.draw(), TICK_MS)
      this.timer.unref() // never what keeps the process alive
    }
  }

  /** Clears the updating line so the result starts on a clean line. */
  done(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    if (this.enabled && this.tty && this.last) noteText('\r\u001B[2K')
  }

  private prefix(): string {
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1)
    const label = COLOR ? `\u001B[36m${this.step_}\u001B[39m` : this.step_
    return `[${seconds}s] ${label}: `
  }

  private draw(): void {
    const output = this.logFile && (this.step_ === 'dev server' || this.step_ === 'install') ? latestOutputLine(this.logFile) : null
    const line = `${this.prefix()}${this.detail}${output ? `  | ${output}` : ''}`
    const width = process.stderr.columns || 100
    // Cut by characters of the visible text; the colour codes of the label are not counted by the terminal.
    const visible = COLOR ? width - 1 + 10 : width - 1
    noteText(`\r\u001B[2K${line.slice(0, visible)}`)
    this.last = line
  }
}

/** A QR code of the link for the terminal (plain block characters when NO_COLOR). */
export async function qrCode(url: string): Promise<string> {
  const {default: QRCode} = await import('qrcode')
  return QRCode.toString(url, {small: true, type: process.env.NO_COLOR ? 'utf8' : 'terminal'})
}
