import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {idArg} from '../cli/id-arg.js'
import {PreviewManager} from '../core/preview/manager.js'

export interface RevokeCommandResult {
  preview_id: string
  revoked: string[]
}

export default class Revoke extends BaseCommand {
  static override summary = "Revoke a preview's links; the running gateway refuses them within a second."
  static override examples = [
    '<%= config.bin %> revoke p-abc12345 --link 3f0c9a4e-1b2d-4c6e-9f00-123456789abc',
    '<%= config.bin %> revoke p-abc12345 --all-links',
  ]

  static override args = {id: idArg}
  static override flags = {
    'all-links': Flags.boolean({default: false, description: 'revoke every link of the preview', exclusive: ['link']}),
    link: Flags.string({description: 'the jti of the link to revoke (see `preview status <id> --json`)', exclusive: ['all-links']}),
  }

  async run(): Promise<RevokeCommandResult> {
    const {args, flags} = await this.parse(Revoke)
    const manager = new PreviewManager({cwd: process.cwd()})
    const id = await manager.resolveId(args.id, 'revoke')
    const {revoked} = await manager.revoke({all: flags['all-links'], id, jti: flags.link})
    const io = this.human()
    if (revoked.length === 0) io.log(`Nothing to revoke: the link(s) of ${id} were already revoked.`)
    else io.log(`Revoked ${revoked.length} link(s) of ${id}: ${revoked.join(', ')}`)
    return {preview_id: id, revoked}
  }
}
