import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {timeLeft} from '../cli/render.js'
import {tokenOf} from '../cli/fields.js'
import {idArg} from '../cli/id-arg.js'
import {PreviewManager} from '../core/preview/manager.js'
import type {AuthMode} from '../core/records/types.js'

export interface ShareCommandResult {
  preview_id: string
  /** Deprecated: the same as share_url (kept for existing callers). */
  url: string
  share_url: string
  /** token mode: the credential alone, for `Authorization: Bearer` (null in basic mode). */
  token: string | null
  jti: string
  auth_mode: AuthMode
  expires_at_epoch: number
}

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
    auth: Flags.string({description: "credential kind; must match the preview's own auth mode", options: ['token', 'basic']}),
    expire: Flags.string({description: 'link lifetime: 30m, 4h, 1d (default 4h, at most max_expire)'}),
  }

  async run(): Promise<ShareCommandResult> {
    const {args, flags} = await this.parse(Share)
    const manager = new PreviewManager({cwd: process.cwd()})
    const id = await manager.resolveId(args.id, 'share')
    const {record, url} = await manager.share({auth: flags.auth, expire: flags.expire, id})
    this.log(
      `Link for ${id} (auth=${record.auth_mode}, jti=${record.jti}, expires_epoch=${record.expires_at_epoch} ${timeLeft(record.expires_at_epoch)})`,
    )
    this.log(`URL: ${url}`)
    return {
      auth_mode: record.auth_mode,
      expires_at_epoch: record.expires_at_epoch,
      jti: record.jti,
      preview_id: id,
      share_url: url,
      token: tokenOf(url),
      url,
    }
  }
}
