import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {PreviewManager} from '../core/preview/manager.js'
import type {PreviewRow} from '../core/preview/types.js'

export default class Restart extends BaseCommand {
  static override summary = 'Restart the dev server of a preview, keeping its link (--pull: bring a branch preview to the branch tip first).'
  static override examples = ['<%= config.bin %> restart p-abc12345', '<%= config.bin %> restart p-abc12345 --pull']
  static override args = {id: Args.string({description: 'preview id (p-xxxxxxxx)', required: true})}
  static override flags = {
    pull: Flags.boolean({default: false, description: 'fetch and reset the worktree to the tip of the branch it previews'}),
  }

  async run(): Promise<PreviewRow> {
    const {args, flags} = await this.parse(Restart)
    const row = await new PreviewManager({cwd: process.cwd()}).restart({id: args.id, pull: flags.pull})
    this.log(`Restarted ${row.preview_id} (localhost:${row.port}${row.commit ? `, commit ${String(row.commit).slice(0, 12)}` : ''})`)
    return row
  }
}
