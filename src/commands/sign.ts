// `preview sign`: the signed host name a `preview serve --secret S` host serves.
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {InvalidInput} from '../core/errors.js'
import {signName} from '../core/host/names.js'

export interface SignOutput {
  name: string
  signed: string
  host: string | null
}

export default class Sign extends BaseCommand {
  static override summary = 'Print the signed host name that `preview serve --secret S` serves for NAME.'
  static override description =
    'NAME is the part before the domain: a ref (single repository), a label, or LABEL--REF. The signed name is NAME--SIG, SIG the first 20 hex characters of HMAC-SHA256(secret, NAME). Branch names with "/" are written with "-" (feature/x is feature-x).'

  static override examples = [
    '<%= config.bin %> sign main --secret "$PREVIEW_SECRET"',
    '<%= config.bin %> sign app--feature-x --secret "$PREVIEW_SECRET" --domain preview.example.com',
  ]

  static override args = {
    name: Args.string({description: 'ref, label or LABEL--REF', required: true}),
  }

  static override flags = {
    domain: Flags.string({description: 'Print the whole host name under this domain.', helpValue: 'DOMAIN'}),
    secret: Flags.string({
      description: 'The --secret of `preview serve` (or PREVIEW_SERVE_SECRET).',
      env: 'PREVIEW_SERVE_SECRET',
      helpValue: 'S',
    }),
  }

  async run(): Promise<SignOutput> {
    const {args, flags} = await this.parse(Sign)
    if (!flags.secret)
      throw new InvalidInput(
        'No secret given.',
        'Pass --secret S (the one `preview serve --secret` runs with), or set PREVIEW_SERVE_SECRET.',
      )
    const signed = signName(flags.secret, args.name)
    const host = flags.domain ? `${signed}.${flags.domain.toLowerCase()}` : null
    this.human().log(host ?? signed)
    return {host, name: args.name.toLowerCase(), signed}
  }
}
