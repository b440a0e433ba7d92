import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {SHARE_FLAGS, shareBody, type ShareCommandResult} from '../cli/everyday.js'
import {idArg} from '../cli/id-arg.js'

export type {ShareCommandResult} from '../cli/everyday.js'

export default class Share extends BaseCommand {
  static override summary = 'Mint another link to a running preview (recorded as a `link` audit entry).'
  static override examples = [
    '<%= config.bin %> share',
    '<%= config.bin %> share p-abc12345',
    '<%= config.bin %> share p-abc12345 --expire 30m',
    '<%= config.bin %> share p-abc12345 --auth basic --json',
  ]

  static override args = {id: idArg}
  static override flags = {
    auth: Flags.string({description: SHARE_FLAGS.auth.description, options: [...SHARE_FLAGS.auth.options]}),
    expire: Flags.string({description: SHARE_FLAGS.expire.description}),
  }

  async run(): Promise<ShareCommandResult> {
    const {args, flags} = await this.parse(Share)
    return shareBody(args.id, flags, this.human())
  }
}
