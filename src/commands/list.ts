import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {codeLabel, expiresIn, sandboxLabel, table} from '../cli/render.js'
import {PreviewManager, type EndedPreview} from '../core/preview/manager.js'
import type {PreviewRow} from '../core/preview/types.js'

/** How far back plain `list` looks for previews that ended by crash or expiry (one line pointing at --all). */
const RECENT_SECONDS = 24 * 3600

export default class List extends BaseCommand {
  static override summary = 'List previews in this repository.'
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json', '<%= config.bin %> list --all']
  static override flags = {
    all: Flags.boolean({default: false, description: 'also list previews that ended (from the audit log), with stop_reason and when'}),
    'show-secrets': Flags.boolean({default: false, description: 'show share URLs with their token or password'}),
  }

  async run(): Promise<Array<PreviewRow | EndedPreview>> {
    const {flags} = await this.parse(List)
    const manager = new PreviewManager({cwd: process.cwd()})
    const rows = await manager.list({showSecrets: flags['show-secrets']})
    // The audit log is read only when something shows it: --all, or plain human output (its one-line notice).
    const since = Date.now() / 1000 - RECENT_SECONDS
    const ended = flags.all ? await manager.ended() : this.jsonEnabled() ? [] : await manager.ended({sinceEpoch: since})
    if (rows.length === 0) this.log(flags.all && ended.length > 0 ? 'No running previews.' : 'No previews. Start one with `preview start`.')
    else {
      this.log(
        table(
          ['ID', 'STATUS', 'PROVIDER', 'PORT', 'AUTH', 'EXPIRES', 'CODE', 'SANDBOX', 'URL'],
          rows.map((r) => [r.preview_id, r.status, r.tunnel_provider, String(r.port ?? '-'), r.auth_mode, expiresIn(r.expires_at_epoch), codeLabel(r), sandboxLabel(r), r.public_url ?? '-']),
        ),
      )
    }

    if (flags.all) {
      if (ended.length > 0) {
        this.log('')
        this.log(
          table(
            ['ID', 'STATUS', 'STOP_REASON', 'ENDED_AT', 'PROVIDER', 'CODE', 'COMMAND'],
            ended.map((e) => [e.preview_id, e.status, e.stop_reason, e.ended_at, e.tunnel_provider ?? '-', codeLabel({...e, ref: null, sandbox_backend: e.sandbox_backend as PreviewRow['sandbox_backend']}), e.command ?? '-']),
          ),
        )
      }

      return [...rows, ...ended]
    }

    const recent = ended.filter((e) => e.stop_reason !== 'operator' && e.ended_at_epoch >= since)
    if (recent.length > 0) {
      const crash = recent.filter((e) => e.stop_reason === 'crash').length
      const parts = [crash > 0 && `${crash} by crash`, recent.length - crash > 0 && `${recent.length - crash} by expiry`].filter(Boolean)
      this.log(`${recent.length === 1 ? '1 preview' : `${recent.length} previews`} ended in the last 24 h (${parts.join(', ')}): \`preview list --all\` shows them.`)
    }

    return rows
  }
}
