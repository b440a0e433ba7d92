import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {idArg} from '../cli/id-arg.js'
import {codeLabel, expiresIn, sandboxLabel} from '../cli/render.js'
import {PreviewManager} from '../core/preview/manager.js'
import type {PreviewRow} from '../core/preview/types.js'

export default class Status extends BaseCommand {
  static override summary = 'Show one preview.'
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status p-abc12345', '<%= config.bin %> status p-abc12345 --json']
  static override args = {id: idArg}
  static override flags = {
    'show-secrets': Flags.boolean({default: false, description: 'show the share URL with its token or password'}),
  }

  async run(): Promise<PreviewRow> {
    const {args, flags} = await this.parse(Status)
    const manager = new PreviewManager({cwd: process.cwd()})
    const row = await manager.status(await manager.resolveId(args.id, 'status'), {showSecrets: flags['show-secrets']})
    const fields: Array<[string, unknown]> = [
      ['id', row.preview_id],
      ['status', row.status],
      ['command', row.command],
      ['cwd', row.cwd],
      ['sandbox', sandboxLabel(row)],
      ['code', codeLabel(row)],
      ['port', row.port],
      ['gateway_port', row.gateway_port],
      ['provider', row.tunnel_provider],
      ['public_url', row.public_url],
      ['share_url', row.share_url],
      ['auth', row.auth_mode],
      ['expires', `${row.expires_at_epoch} (${expiresIn(row.expires_at_epoch)})`],
      ['restarts', row.restarts],
      ['pids', `supervisor=${row.supervisor_pid ?? '-'} dev=${row.process_pid ?? '-'}`],
    ]
    for (const [k, v] of fields) this.log(`${k.padEnd(13)}${v ?? '-'}`)
    return row
  }
}
