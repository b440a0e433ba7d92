import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {LIST_FLAGS, listBody} from '../cli/everyday.js'
import type {ServedRow} from '../core/host/list.js'
import type {EndedPreview} from '../core/preview/manager.js'
import type {PreviewRow} from '../core/records/types.js'

export default class List extends BaseCommand {
  static override summary = 'List previews in this repository.'
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json', '<%= config.bin %> list --all']
  static override flags = {
    all: Flags.boolean({default: false, description: LIST_FLAGS.all.description}),
    'show-secrets': Flags.boolean({default: false, description: LIST_FLAGS['show-secrets'].description}),
  }

  async run(): Promise<Array<PreviewRow | ServedRow | EndedPreview>> {
    const {flags} = await this.parse(List)
    return listBody(flags, this.human())
  }
}
