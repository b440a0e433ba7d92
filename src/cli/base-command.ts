// The one place that maps errors to exit codes and to messages that say what to do next (render-error.ts).
// Subpath imports: the package index also loads help, the logger and a Node-version check (semver), about a
// third more modules on every run, none of which a command needs.
import {Command} from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'
import {isPreviewError} from '../core/errors.js'
import {renderError} from './render-error.js'

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  /** JSON as is: oclif's own logJson colorizes (tokenizes) the document, ~100 ms for `list --json` of 1,000 rows. */
  override logJson(json: unknown): void {
    console.log(JSON.stringify(json, null, 2)) // the same channel as oclif's ux.stdout
  }

  /** One JSON object per line (streams: `logs --follow --json`, `events --json`). */
  protected logJsonLine(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json)}\n`)
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err // this.exit(): already rendered
    // With --json, every error (oclif's parse errors too) is one small envelope on stdout: oclif's own would
    // serialise the whole parse context (~60 KB of config) and exit 1.
    if (this.jsonEnabled() || isPreviewError(err) || (err as {flags?: unknown}).flags !== undefined) {
      // Printed as is (oclif's own printer re-wraps long lines and would split paths and URLs).
      const known = Object.keys({...this.ctor.flags, ...this.ctor.baseFlags})
      const out = renderError(err, this.jsonEnabled(), this.id?.replaceAll(':', ' '), known)
      if (out.stdout !== null) console.log(out.stdout)
      if (out.stderr !== null) console.error(out.stderr)
      this.exit(out.exitCode)
    }

    // oclif's own parse errors (unknown flag, bad option value) are bad input: exit 2.
    if (err instanceof Errors.CLIError && err.oclif?.exit === undefined) err.oclif = {exit: 2}
    return super.catch(err)
  }
}
