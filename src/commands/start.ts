import * as Flags from '@oclif/core/flags'
import type {FlagInput} from '@oclif/core/interfaces'
import {BaseCommand} from '../cli/base-command.js'
import {tokenOf} from '../cli/fields.js'
import {START_FLAGS, type StartFlags, type StartFlagSpec} from '../cli/start-flags.js'
import {runStart} from '../cli/start-run.js'
import {PreviewManager, type StartResult} from '../core/preview/manager.js'
import type {Discovery} from '../core/discovery/commands.js'
import type {PreviewRow} from '../core/records/types.js'
import {note} from '../cli/output.js'

export type ListCommandsOutput = Discovery & {cwd: string; package_manager: Discovery['packageManager']; runtime_hints: string[]}

export default class Start extends BaseCommand {
  static override summary = 'Run the dev server in a worktree behind an auth gateway and a tunnel, and print a share link.'
  static override examples = [
    '<%= config.bin %> start',
    '<%= config.bin %> start --provider local --auth none',
    '<%= config.bin %> start --cwd . --command "npm run dev" --expire 30m --json',
    '<%= config.bin %> start --list-commands',
    '<%= config.bin %> start --ref feature/login --qr',
    '<%= config.bin %> start --working-copy',
    '<%= config.bin %> start --attach 3000 --provider cloudflared',
  ]

  // Built from the shared table, so the fast path in bin/run.js parses exactly these flags.
  static override flags: FlagInput = Object.fromEntries(
    Object.entries(START_FLAGS).map(([name, spec]: [string, StartFlagSpec]) => [
      name,
      spec.type === 'string'
        ? Flags.string({description: spec.description})
        : Flags.boolean({allowNo: spec.allowNo ?? false, default: spec.default ?? false, description: spec.description}),
    ]),
  )

  async run(): Promise<PreviewRow | ListCommandsOutput> {
    const {flags: parsed} = await this.parse(Start)
    const flags = parsed as unknown as StartFlags
    if (flags['list-commands']) return this.listCommands(new PreviewManager({cwd: process.cwd()}), flags)
    const result = await runStart(flags, this.human())
    if (flags.foreground) await this.untilSignal(result)
    return {...result.row, share_url: result.shareUrl, token: tokenOf(result.shareUrl)}
  }

  private async listCommands(manager: PreviewManager, flags: StartFlags) {
    const found = await manager.listCommands({command: flags.command, cwd: flags.cwd, ref: flags.ref, workingCopy: flags['working-copy']})
    const io = this.human()
    if (found.candidates.length === 0) io.log(`No dev command found in ${found.cwd}. Searched: ${found.searched.join('; ')}`)
    for (const [i, c] of found.candidates.entries())
      io.log(`${i + 1}. ${c.command}    (${c.source})${c.runner ? `\n   runs: ${c.runner}` : ''}`)
    for (const hint of found.runtimeHints) io.log(`runtime: ${hint}    (.tool-versions)`)
    // snake_case next to the camelCase keys (kept, deprecated in docs/json/list-commands.json).
    return {...found, package_manager: found.packageManager, runtime_hints: found.runtimeHints}
  }

  private async untilSignal(result: StartResult): Promise<void> {
    const supervisor = result.supervisor!
    const stop = () => void supervisor.stop('operator')
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    process.on('SIGUSR2', () => void supervisor.restartDevServer()) // `preview restart` of a foreground preview
    if (!this.jsonEnabled()) note('Running in the foreground; press Ctrl-C to stop.')
    await supervisor.done
  }
}
