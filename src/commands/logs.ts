import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {PreviewManager} from '../core/preview/manager.js'

export default class Logs extends BaseCommand {
  static override summary = "Show a preview's log: the dev server's output and the supervisor's own [preview] lines."
  static override examples = ['<%= config.bin %> logs p-abc12345', '<%= config.bin %> logs p-abc12345 --follow', '<%= config.bin %> logs p-abc12345 --lines 20']
  static override args = {id: Args.string({description: 'preview id (p-xxxxxxxx)', required: true})}
  static override flags = {
    follow: Flags.boolean({char: 'f', default: false, description: 'keep printing new lines (across restarts) until the preview stops or Ctrl-C'}),
    lines: Flags.integer({char: 'n', default: 100, description: 'how many lines from the end', min: 0}),
  }

  async run(): Promise<{file: string; lines: string[]; bytes: number}> {
    const {args, flags} = await this.parse(Logs)
    const manager = new PreviewManager({cwd: process.cwd()})
    const result = await manager.logs({id: args.id, lines: flags.lines})
    for (const line of result.lines) this.log(line)
    if (flags.follow && !this.jsonEnabled()) {
      const abort = new AbortController()
      const stop = () => abort.abort()
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      await manager.followLogs({fromByte: result.bytes, id: args.id, onText: (text) => process.stdout.write(text), signal: abort.signal})
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }

    return result
  }
}
