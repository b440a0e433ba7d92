// The one place that maps errors to exit codes and to messages that say what to do next (render-error.ts).
// Subpath imports: the package index also loads help, the logger and a Node-version check (semver), about a
// third more modules on every run, none of which a command needs.
import {Command} from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'
import {isPreviewError} from '../core/errors.js'
import {renderError} from './render-error.js'
import {humanIo, printRendered, resultJson, type HumanIo} from './output.js'

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true

  /** oclif prints a command's result through this: as is, see resultJson. */
  override logJson(json: unknown): void {
    resultJson(json)
  }

  /** Human result lines on stdout, silent with --json (as oclif's this.log is). */
  protected human(): HumanIo {
    return humanIo(this.jsonEnabled())
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err // this.exit(): already rendered
    // With --json, every error (oclif's parse errors too) is one small envelope on stdout: oclif's own would
    // serialise the whole parse context (~60 KB of config) and exit 1.
    if (this.jsonEnabled() || isPreviewError(err) || (err as {flags?: unknown}).flags !== undefined) {
      // Printed as is (oclif's own printer re-wraps long lines and would split paths and URLs).
      const known = Object.keys({...this.ctor.flags, ...this.ctor.baseFlags})
      const out = renderError(err, this.jsonEnabled(), this.id?.replaceAll(':', ' '), known)
      printRendered(out)
      this.exit(out.exitCode)
    }

    // oclif's own parse errors (unknown flag, bad option value) are bad input: exit 2.
    if (err instanceof Errors.CLIError && err.oclif?.exit === undefined) err.oclif = {exit: 2}
    return super.catch(err)
  }
}
