// The start fast path: `preview start` without loading oclif (~150 ms of module loading on these machines, on
// the critical path of every start). Same flags (start-flags.ts), same body (start-run.ts), same error output
// (render-error.ts); anything it should not decide (help, foreground, --list-commands, flags it does not know)
// returns null and oclif runs the command as usual.
import {isPreviewError} from '../core/errors.js'
import {tokenOf} from './fields.js'
import {renderError} from './render-error.js'
import {parseStartArgv} from './start-flags.js'
import {runStart} from './start-run.js'
import {humanIo, printRendered, resultJson} from './output.js'

/** Runs `preview start <argv>`; resolves with the exit code, or null to hand the command to oclif. */
export async function runFastStart(argv: string[]): Promise<number | null> {
  const parsed = parseStartArgv(argv)
  if (!parsed || parsed.flags.foreground || parsed.flags['list-commands']) return null
  try {
    const result = await runStart(parsed.flags, humanIo(parsed.json))
    if (parsed.json) resultJson({...result.row, share_url: result.shareUrl, token: tokenOf(result.shareUrl)})
    return 0
  } catch (error) {
    if (!isPreviewError(error)) throw error
    const out = renderError(error, parsed.json, 'start')
    printRendered(out)
    return out.exitCode
  }
}
