// Runs oclif for everything the start fast path does not take. Errors raised before a command runs (an unknown
// command) never reach BaseCommand.catch: they are rendered here the same way, so `--json` still gets one
// envelope on stdout and an unknown command is bad input (exit 2) with a "did you mean".
import {Config} from '@oclif/core/config'
import {flush} from '@oclif/core/flush'
import {handle} from '@oclif/core/handle'
import {run} from '@oclif/core/run'
import {PreviewError} from '../core/errors.js'
import {renderError, wantsJson} from './render-error.js'
import {closest} from './suggest.js'
import {printRendered} from './output.js'

type OclifError = Error & {oclif?: {exit?: number}; code?: string}

/** oclif's `execute`, with pre-command errors rendered by render-error.ts. */
export async function runOclif(argv: string[], dir: string): Promise<void> {
  const config = await Config.load(dir)
  // `preview help [command]` (plugin-not-found's own advice) is `preview [command] --help`: no help plugin needed.
  if (argv[0] === 'help') argv = [...argv.slice(1), '--help']
  try {
    await run(argv, config)
    await flush()
  } catch (error) {
    const err = error as OclifError
    // plugin-not-found's error (exit 127) once it has warned: name the closest command on every stream.
    const words = argv.slice(0, 2).filter((a) => !a.startsWith('-'))
    const unknown = err.oclif?.exit === 127 && words[0] ? (config.findTopic(words[0]) ? words.join(' ') : words[0]) : null
    if (err.code === 'EEXIT' || (!unknown && !wantsJson(argv))) {
      await handle(err)
      return
    }

    let rendered = renderError(err, wantsJson(argv))
    if (unknown) {
      const ids = config.commandIDs.map((id) => id.replaceAll(':', ' '))
      const guess = closest(unknown, ids)
      const hint = guess
        ? `Did you mean \`preview ${guess}\`? Run \`preview --help\` for the commands.`
        : 'Run `preview --help` for the commands.'
      rendered = renderError(
        new PreviewError('UNKNOWN_COMMAND', `${unknown} is not a preview command.`, {hint, kind: 'bad-input'}),
        wantsJson(argv),
      )
    }

    printRendered(rendered)
    process.exitCode = rendered.exitCode
  }
}
