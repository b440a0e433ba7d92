import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {PreviewManager, type StopResult} from '../core/preview/manager.js'

export default class Stop extends BaseCommand {
  static override summary = 'Stop previews: tunnel, gateway and dev server (with its children) all end.'
  static override strict = false
  static override examples = ['<%= config.bin %> stop', '<%= config.bin %> stop p-abc12345', '<%= config.bin %> stop --all']
  static override args = {id: Args.string({description: 'preview id(s); default: the only running preview of this repository'})}
  static override flags = {all: Flags.boolean({default: false, description: 'stop every preview'})}

  async run(): Promise<StopResult[]> {
    const {argv, flags} = await this.parse(Stop)
    const results = await new PreviewManager({cwd: process.cwd()}).stop({all: flags.all, ids: argv as string[]})
    if (results.length === 0) this.log('No previews to stop.')
    for (const r of results) this.log(`Stopped ${r.preview_id}${r.cleaned_up ? ' (its supervisor was gone; cleaned up)' : ''}`)
    return results
  }
}
