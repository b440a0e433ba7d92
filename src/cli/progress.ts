// The start progress display on stderr: one updating line on a TTY, plain lines otherwise; NO_COLOR honoured.

const COLOR = !process.env.NO_COLOR && process.stderr.isTTY

/** Shows each step of a start as it happens (discover, sandbox, install, dev server, port, tunnel, link). */
export class Progress {
  private readonly tty = Boolean(process.stderr.isTTY)
  private readonly started = Date.now()
  private last = ''

  constructor(private readonly enabled: boolean) {}

  step(step: string, detail: string): void {
    if (!this.enabled) return
    const seconds = ((Date.now() - this.started) / 1000).toFixed(1)
    const label = COLOR ? `\u001B[36m${step}\u001B[39m` : step
    const line = `[${seconds}s] ${label}: ${detail}`
    if (this.tty) {
      const width = process.stderr.columns || 100
      process.stderr.write(`\r\u001B[2K${line.slice(0, width - 1)}`)
      this.last = line
    } else process.stderr.write(`${line}\n`)
  }

  /** Clears the updating line so the result starts on a clean line. */
  done(): void {
    if (this.enabled && this.tty && this.last) process.stderr.write('\r\u001B[2K')
  }
}

/** A QR code of the link for the terminal (plain block characters when NO_COLOR). */
export async function qrCode(url: string): Promise<string> {
  const {default: QRCode} = await import('qrcode')
  return QRCode.toString(url, {small: true, type: process.env.NO_COLOR ? 'utf8' : 'terminal'})
}
