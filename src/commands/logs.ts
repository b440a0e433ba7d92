import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {idArg} from '../cli/id-arg.js'
import {untilSignal} from '../cli/signals.js'
import {PreviewManager} from '../core/preview/manager.js'

export interface LogsResult {
  /** Deprecated: the same as log_file (kept for existing callers). */
  file: string
  log_file: string
  preview_id: string
  lines: string[]
  bytes: number
}

/** One line of `logs --follow --json` (docs/json/log-line.json). */
export interface LogLine {
  line: string
  preview_id: string
  at_epoch: number
  /** true for the lines that were already in the log when following began. */
  backlog: boolean
}

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
    follow: Flags.boolean({
      char: 'f',
      default: false,
      description: 'keep printing new lines (across restarts) until the preview stops or Ctrl-C; with --json one object per line',
    }),
    lines: Flags.integer({char: 'n', default: 100, description: 'how many lines from the end', min: 0}),
  }

  async run(): Promise<LogsResult | undefined> {
    const {args, flags} = await this.parse(Logs)
    const manager = new PreviewManager({cwd: process.cwd()})
    const id = await manager.resolveId(args.id, 'logs')
    const tail = await manager.logs({id, lines: flags.lines})
    const result: LogsResult = {...tail, log_file: tail.file, preview_id: id}
    if (!flags.follow) {
      for (const line of result.lines) this.log(line)
      return result
    }

    const json = this.jsonEnabled()
    const emit = (line: string, backlog: boolean) =>
      this.logJsonLine({at_epoch: Math.floor(Date.now() / 1000), backlog, line, preview_id: id} satisfies LogLine)
    if (json) for (const line of result.lines) emit(line, true)
    else for (const line of result.lines) this.log(line)
    let partial = ''
    await untilSignal((signal) =>
      manager.followLogs({
        fromByte: result.bytes,
        id,
        onText(text) {
          if (!json) {
            process.stdout.write(text)
            return
          }

          // Whole lines only: a line the dev server is still writing waits for its newline.
          const parts = (partial + text).split('\n')
          partial = parts.pop() ?? ''
          for (const line of parts) emit(line.replace(/\r$/, ''), false)
        },
        signal,
      }),
    )
    if (json && partial) emit(partial, false)
    return undefined // a stream: every line is already out, there is no document to print
  }
}
