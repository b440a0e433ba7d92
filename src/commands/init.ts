import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {initConfig, type InitResult} from '../core/preview/init-config.js'
import {PreviewManager} from '../core/preview/manager.js'

export default class Init extends BaseCommand {
  static override summary = 'Write a commented .sdd/preview.yaml from what discovery finds (the dev command, install, defaults).'
  static override examples = ['<%= config.bin %> init', '<%= config.bin %> init --force']
  static override flags = {
    force: Flags.boolean({default: false, description: 'replace an existing .sdd/preview.yaml'}),
  }

  async run(): Promise<InitResult> {
    const {flags} = await this.parse(Init)
    const {paths, root} = await new PreviewManager({cwd: process.cwd()}).locate()
    const result = initConfig({dir: root ?? process.cwd(), force: flags.force, paths})
    const io = this.human()
    io.log(`${result.overwritten ? 'Replaced' : 'Wrote'} ${result.config_file}`)
    io.log(result.command ? `command: ${result.command}    (${result.source})` : 'No dev command found: set `command:` in the file.')
    return result
  }
}
