import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {LOGS_FLAGS, logsBody, type LogsResult} from '../cli/everyday.js'
import {idArg} from '../cli/id-arg.js'

export type {LogLine, LogsResult} from '../cli/everyday.js'

export default class Logs extends BaseCommand {
  static override summary = "Show a preview's log: the dev server's output and the supervisor's own [preview] lines."
  static override examples = [
    '<%= config.bin %> logs',
    '<%= config.bin %> logs p-abc12345 --follow',
    '<%= config.bin %> logs p-abc12345 --lines 20',
    '<%= config.bin %> logs --follow --json   # one {"line","at_epoch","preview_id"} object per line until the preview stops',
  ]

  static override args = {id: idArg}
  static override flags = {
    follow: Flags.boolean({char: LOGS_FLAGS.follow.char, default: false, description: LOGS_FLAGS.follow.description}),
    lines: Flags.integer({
      char: LOGS_FLAGS.lines.char,
      default: LOGS_FLAGS.lines.default,
      description: LOGS_FLAGS.lines.description,
      min: LOGS_FLAGS.lines.min,
    }),
  }

  async run(): Promise<LogsResult | undefined> {
    const {args, flags} = await this.parse(Logs)
    return logsBody(args.id, flags, this.human())
  }
}
