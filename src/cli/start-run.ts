// The body of `preview start` (detached mode), shared by the oclif command and the start fast path.
import {PreviewManager, type StartResult} from '../core/preview/manager.js'
import {openInBrowser} from './open-browser.js'
import {Progress, qrCode} from './progress.js'
import {startBanner} from './render.js'
import type {StartFlags} from './start-flags.js'
import {note} from './output.js'

export interface StartIO {
  /** Human output (stdout); not called in --json mode. */
  log(line: string): void
  json: boolean
}

/** Starts a preview from parsed flags and prints the banner (or nothing in --json mode); returns the result. */
export async function runStart(flags: StartFlags, io: StartIO): Promise<StartResult> {
  const manager = new PreviewManager({cwd: process.cwd()})
  const progress = new Progress(!io.json)
  const result = await manager.start({
    attach: flags.attach,
    auth: flags.auth,
    command: flags.command,
    cwd: flags.cwd,
    expire: flags.expire,
    foreground: flags.foreground,
    idleTtl: flags['idle-ttl'],
    noInstall: !flags.install,
    onLogFile: (file) => progress.setLogFile(file),
    onProgress: (step, detail) => progress.step(step, detail),
    provider: flags.provider,
    readyTimeout: flags['ready-timeout'],
    ref: flags.ref,
    workingCopy: flags['working-copy'],
  })
  progress.done()
  // Warnings go to stderr in every mode, so --json output stays one document.
  for (const w of result.warnings) note(`Warning: ${w}`)
  if (!io.json) {
    for (const line of startBanner(result.row, result.shareUrl, result.served)) io.log(line)
    if (flags.qr) io.log(await qrCode(result.shareUrl))
    if (flags.clipboard && !process.env.CI && process.stdout.isTTY) await copy(result.shareUrl, io)
    if (flags.open) openLink(result.shareUrl, io)
  }

  return result
}

/** --open: the link in the default browser, only with a person at a terminal (an agent's --open is a no-op). */
function openLink(url: string, io: StartIO): void {
  if (!process.stdout.isTTY) {
    note('Not opening a browser: no terminal (--open is for people at one).')
    return
  }

  if (openInBrowser(url)) io.log('Opened the link in your browser.')
  else note('Could not open a browser (no xdg-open/open); the URL is above.')
}

async function copy(url: string, io: StartIO): Promise<void> {
  try {
    const {default: clipboard} = await import('clipboardy')
    await clipboard.write(url)
    io.log('URL copied to clipboard.')
  } catch {
    // No clipboard (headless box): the URL is printed above, which is enough.
  }
}
