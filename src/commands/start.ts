import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {Progress, qrCode} from '../cli/progress.js'
import {startBanner} from '../cli/render.js'
import {PreviewManager, type StartResult} from '../core/preview/manager.js'
import type {Discovery} from '../core/preview/discovery.js'
import type {PreviewRow} from '../core/preview/types.js'

export default class Start extends BaseCommand {
  static override summary = 'Run the dev server in a worktree behind an auth gateway and a tunnel, and print a share link.'
  static override examples = [
    '<%= config.bin %> start',
    '<%= config.bin %> start --provider local --auth none',
    '<%= config.bin %> start --cwd . --command "npm run dev" --expire 30m --json',
    '<%= config.bin %> start --list-commands',
    '<%= config.bin %> start --ref feature/login --qr',
  ]

  static override flags = {
    auth: Flags.string({description: 'token | basic | none (default token)'}),
    clipboard: Flags.boolean({allowNo: true, default: true, description: 'copy the URL to the clipboard (off in CI or without a TTY)'}),
    command: Flags.string({description: 'the dev command (overrides discovery)'}),
    cwd: Flags.string({description: 'run here instead of the newest .sdd worktree'}),
    install: Flags.boolean({allowNo: true, default: true, description: 'install dependencies in a fresh worktree (lockfile present, node_modules missing)'}),
    qr: Flags.boolean({default: false, description: 'print a QR code of the link, for phones'}),
    ref: Flags.string({description: 'preview this branch, tag or commit in a worktree of its own'}),
    expire: Flags.string({description: 'link lifetime: 30s, 30m, 4h, 1d (default 4h, at most max_expire)'}),
    foreground: Flags.boolean({default: false, description: 'run the supervisor in this process until Ctrl-C'}),
    'idle-ttl': Flags.string({description: 'stop the dev server after this long without requests; the next request wakes it'}),
    'list-commands': Flags.boolean({default: false, description: 'print every candidate dev command in order and start nothing'}),
    provider: Flags.string({description: 'auto | cloudflared | ngrok | bore | tailscale | localtunnel | ssh | local'}),
    'ready-timeout': Flags.string({description: 'how long to wait for the dev server (default 30s)'}),
  }

  async run(): Promise<PreviewRow | (Discovery & {cwd: string})> {
    const {flags} = await this.parse(Start)
    const manager = new PreviewManager({cwd: process.cwd()})
    if (flags['list-commands']) return this.listCommands(manager, flags.cwd, flags.command)
    const progress = new Progress(!this.jsonEnabled())
    const result = await manager.start({
      noInstall: !flags.install,
      onProgress: (step, detail) => progress.step(step, detail),
      ref: flags.ref,
      auth: flags.auth,
      command: flags.command,
      cwd: flags.cwd,
      expire: flags.expire,
      foreground: flags.foreground,
      idleTtl: flags['idle-ttl'],
      provider: flags.provider,
      readyTimeout: flags['ready-timeout'],
    })
    progress.done()
    for (const w of result.warnings) this.warn(w)
    for (const line of startBanner(result.row, result.shareUrl)) this.log(line)
    if (flags.qr && !this.jsonEnabled()) this.log(await qrCode(result.shareUrl))
    if (flags.clipboard && !process.env.CI && process.stdout.isTTY && !this.jsonEnabled()) await this.copy(result.shareUrl)
    if (flags.foreground) await this.untilSignal(result)
    return {...result.row, share_url: result.shareUrl}
  }

  private async listCommands(manager: PreviewManager, cwd?: string, command?: string) {
    const found = await manager.listCommands({command, cwd})
    if (found.candidates.length === 0) this.log(`No dev command found in ${found.cwd}. Searched: ${found.searched.join('; ')}`)
    for (const [i, c] of found.candidates.entries()) this.log(`${i + 1}. ${c.command}    (${c.source})`)
    for (const hint of found.runtimeHints) this.log(`runtime: ${hint}    (.tool-versions)`)
    return found
  }

  private async copy(url: string): Promise<void> {
    try {
      const {default: clipboard} = await import('clipboardy')
      await clipboard.write(url)
      this.log('URL copied to clipboard.')
    } catch {
      // No clipboard (headless box): the URL is printed above, which is enough.
    }
  }

  private async untilSignal(result: StartResult): Promise<void> {
    const supervisor = result.supervisor!
    const stop = () => void supervisor.stop('operator')
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    process.on('SIGUSR2', () => void supervisor.restartDevServer()) // `preview restart` of a foreground preview
    this.logToStderr('Running in the foreground; press Ctrl-C to stop.')
    await supervisor.done
  }
}
