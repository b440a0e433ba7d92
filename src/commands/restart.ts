import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {epochOf} from '../cli/fields.js'
import {idArg} from '../cli/id-arg.js'
import {PreviewManager} from '../core/preview/manager.js'
import type {PreviewRow} from '../core/records/types.js'

export default class Restart extends BaseCommand {
  static override summary =
    'Restart the dev server of a preview, keeping its link (--pull: bring a branch preview to the branch tip first).'
  static override examples = [
    '<%= config.bin %> restart',
    '<%= config.bin %> restart p-abc12345',
    '<%= config.bin %> restart p-abc12345 --pull',
  ]
  static override args = {id: idArg}
  static override flags = {
    pull: Flags.boolean({default: false, description: 'fetch and reset the worktree to the tip of the branch it previews'}),
  }

  async run(): Promise<PreviewRow> {
    const {args, flags} = await this.parse(Restart)
    const manager = new PreviewManager({cwd: process.cwd()})
    const row = await manager.restart({id: await manager.resolveId(args.id, 'restart'), pull: flags.pull})
    this.human().log(
      `Restarted ${row.preview_id} (localhost:${row.port}${row.commit ? `, commit ${String(row.commit).slice(0, 12)}` : ''})`,
    )
    // `*_epoch` next to the `*_at_ms` fields (kept: extend, never rename), as everywhere else in the contract.
    return {...row, restart_requested_at_epoch: epochOf(row.restart_requested_at_ms), restarted_at_epoch: epochOf(row.restarted_at_ms)}
  }
}
