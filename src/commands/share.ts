import {Args, Flags} from '@oclif/core'
import {BaseCommand} from '../cli/base-command.js'
import {loadConfig} from '../core/preview/config.js'
import {formatDuration, parseDuration} from '../core/preview/duration.js'
import {resolveSddDir, shareLink} from '../core/preview/links.js'
import {sddPaths} from '../core/preview/paths.js'
import type {AuthMode} from '../core/preview/types.js'

const HARD_MAX_EXPIRE = '24h'

export interface ShareCommandResult {
  preview_id: string
  url: string
  jti: string
  auth_mode: AuthMode
  expires_at_epoch: number
}

export default class Share extends BaseCommand {
  static override summary = 'Mint another link to a running preview (recorded as a `link` audit entry).'
  static override examples = [
    '<%= config.bin %> share p-abc12345',
    '<%= config.bin %> share p-abc12345 --expire 30m',
    '<%= config.bin %> share p-abc12345 --auth basic --json',
  ]

  static override args = {id: Args.string({description: 'preview id (see `preview list`)', required: true})}
  static override flags = {
    auth: Flags.string({description: "credential kind; must match the preview's own auth mode", options: ['token', 'basic']}),
    expire: Flags.string({description: 'link lifetime: 30m, 4h, 1d (capped at max_expire, 24h at most)'}),
  }

  async run(): Promise<ShareCommandResult> {
    const {args, flags} = await this.parse(Share)
    const paths = sddPaths(await resolveSddDir(process.cwd(), this.coreEnv()))
    const config = loadConfig(paths)
    let expireSeconds = parseDuration(flags.expire ?? config.expire ?? '4h', '--expire')
    const maxSeconds = Math.min(parseDuration(config.max_expire ?? HARD_MAX_EXPIRE, 'max_expire'), parseDuration(HARD_MAX_EXPIRE))
    if (expireSeconds > maxSeconds) {
      this.warn(`--expire capped at ${formatDuration(maxSeconds)}.`)
      expireSeconds = maxSeconds
    }

    const {record, url} = await shareLink({
      authMode: flags.auth as AuthMode | undefined,
      expireSeconds,
      id: args.id,
      paths,
    })
    this.log(`Link for ${args.id} (auth=${record.auth_mode}, jti=${record.jti}, expires_epoch=${record.expires_at_epoch})`)
    this.log(`URL: ${url}`)
    return {auth_mode: record.auth_mode, expires_at_epoch: record.expires_at_epoch, jti: record.jti, preview_id: args.id, url}
  }
}
