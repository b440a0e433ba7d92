import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {STATUS_FLAGS, statusBody} from '../cli/everyday.js'
import {idArg} from '../cli/id-arg.js'
import type {PreviewRow} from '../core/records/types.js'

export default class Status extends BaseCommand {
  static override summary = 'Show one preview.'
  static override examples = [
    '<%= config.bin %> status',
    '<%= config.bin %> status p-abc12345',
    '<%= config.bin %> status p-abc12345 --json',
  ]
  static override args = {id: idArg}
  static override flags = {
    'show-secrets': Flags.boolean({default: false, description: STATUS_FLAGS['show-secrets'].description}),
  }

  async run(): Promise<PreviewRow> {
    const {args, flags} = await this.parse(Status)
    return statusBody(args.id, flags, this.human())
  }
}
