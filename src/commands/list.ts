import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {expiresIn, sandboxLabel, table} from '../cli/render.js'
import {servedRows, type ServedRow} from '../core/host/list.js'
import {PreviewManager} from '../core/preview/manager.js'
import type {PreviewRow} from '../core/preview/types.js'

export default class List extends BaseCommand {
  static override summary = 'List previews in this repository.'
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json']
  static override flags = {
    'show-secrets': Flags.boolean({default: false, description: 'show share URLs with their token or password'}),
  }

  async run(): Promise<(PreviewRow | ServedRow)[]> {
    const {flags} = await this.parse(List)
    const manager = new PreviewManager({cwd: process.cwd()})
    const [own, paths] = await Promise.all([manager.list({showSecrets: flags['show-secrets']}), manager.sddPaths()])
    // Previews a `preview serve` host runs for this repository, marked `serve` (PROVIDER and the id's prefix).
    const served = servedRows(paths, {showSecrets: flags['show-secrets']})
    if (own.length === 0 && served.length === 0) {
      this.log('No previews. Start one with `preview start`.')
      return own
    }

    const rows: (PreviewRow | ServedRow)[] = [...own, ...served]

    this.log(
      table(
        ['ID', 'STATUS', 'PROVIDER', 'PORT', 'AUTH', 'EXPIRES', 'SANDBOX', 'URL'],
        rows.map((r) => [
          r.preview_id,
          r.status,
          r.tunnel_provider,
          String(r.port ?? '-'),
          r.auth_mode,
          'served_by' in r ? '-' : expiresIn(r.expires_at_epoch),
          'served_by' in r ? `worktree/${r.sandbox_session_id}` : sandboxLabel(r),
          r.public_url ?? '-',
        ]),
      ),
    )
    return rows
  }
}
