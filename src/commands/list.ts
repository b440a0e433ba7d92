import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {expiresIn, sandboxLabel, table} from '../cli/render.js'
import {PreviewManager} from '../core/preview/manager.js'
import type {PreviewRow} from '../core/preview/types.js'

export default class List extends BaseCommand {
  static override summary = 'List previews in this repository.'
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json']
  static override flags = {
    'show-secrets': Flags.boolean({default: false, description: 'show share URLs with their token or password'}),
  }

  async run(): Promise<PreviewRow[]> {
    const {flags} = await this.parse(List)
    const rows = await new PreviewManager({cwd: process.cwd()}).list({showSecrets: flags['show-secrets']})
    if (rows.length === 0) {
      this.log('No previews. Start one with `preview start`.')
      return rows
    }

    this.log(
      table(
        ['ID', 'STATUS', 'PROVIDER', 'PORT', 'AUTH', 'EXPIRES', 'SANDBOX', 'URL'],
        rows.map((r) => [
          r.preview_id,
          r.status,
          r.tunnel_provider,
          String(r.port ?? '-'),
          r.auth_mode,
          expiresIn(r.expires_at_epoch),
          sandboxLabel(r),
          r.public_url ?? '-',
        ]),
      ),
    )
    return rows
  }
}
