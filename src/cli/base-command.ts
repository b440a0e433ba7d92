// The one place that maps core errors to exit codes and to messages that say what to do next.
// Subpath imports: the package index also loads help, the logger and a Node-version check (semver), about a
// third more modules on every run, none of which a command needs.
import {Command} from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'
import {isPreviewError} from '../core/errors.js'

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  /** JSON as is: oclif's own logJson colorizes (tokenizes) the document, ~100 ms for `list --json` of 1,000 rows. */
  override logJson(json: unknown): void {
    console.log(JSON.stringify(json, null, 2)) // the same channel as oclif's ux.stdout
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (isPreviewError(err)) {
      const lines = [err.message]
      if (err.details.length > 0) lines.push('', ...err.details.map((l) => `  ${l}`))
      if (err.hint) lines.push('', err.hint)
      if (this.jsonEnabled()) {
        this.logJson({error: {code: err.code, details: err.details, hint: err.hint ?? null, message: err.message}})
        this.exit(err.exitCode)
      }

      // Printed as is (oclif's own printer re-wraps long lines and would split paths and URLs).
      this.logToStderr(`Error: ${lines.join('\n')}`)
      this.exit(err.exitCode)
    }

    // oclif's own parse errors (unknown flag, bad option value) are bad input: exit 2.
    if (err instanceof Errors.CLIError && err.oclif?.exit === undefined) err.oclif = {exit: 2}
    return super.catch(err)
  }
}
