import {createInterface} from 'node:readline/promises'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {InvalidInput} from '../core/errors.js'
import {PreviewManager, type CleanupPlan} from '../core/preview/manager.js'

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`
}

export default class Cleanup extends BaseCommand {
  static override summary = 'Remove worktrees no preview uses and logs of previews that are gone (shows what first, asks unless --yes).'
  static override examples = ['<%= config.bin %> cleanup --dry-run', '<%= config.bin %> cleanup --yes']
  static override flags = {
    'dry-run': Flags.boolean({default: false, description: 'list what would be removed and remove nothing'}),
    yes: Flags.boolean({char: 'y', default: false, description: 'remove without asking'}),
  }

  async run(): Promise<CleanupPlan & {removed: boolean}> {
    const {flags} = await this.parse(Cleanup)
    const manager = new PreviewManager({cwd: process.cwd()})
    const io = this.human()
    const plan = await manager.cleanupPlan()
    for (const w of plan.worktrees) io.log(`worktree  ${size(w.bytes).padStart(10)}  ${w.path}`)
    for (const l of plan.logs) io.log(`log       ${size(l.bytes).padStart(10)}  ${l.path}`)
    const count = plan.worktrees.length + plan.logs.length
    if (count === 0) {
      io.log('Nothing to clean up.')
      return {...plan, removed: false}
    }

    io.log(`${count} item(s), ${size(plan.total_bytes)}${flags['dry-run'] ? ' would be removed (dry run: nothing removed).' : ''}`)
    if (flags['dry-run']) return {...plan, removed: false}
    if (!flags.yes && !(await this.confirm())) return {...plan, removed: false}
    const removed = await manager.cleanup(plan)
    io.log(`Removed ${removed.worktrees.length} worktree(s) and ${removed.logs.length} log(s), ${size(removed.total_bytes)}.`)
    return {...removed, removed: true}
  }

  private async confirm(): Promise<boolean> {
    if (!process.stdin.isTTY || this.jsonEnabled()) {
      throw new InvalidInput(
        'cleanup needs confirmation and there is no terminal to ask on.',
        'Pass --yes to remove, or --dry-run to only list.',
      )
    }

    const rl = createInterface({input: process.stdin, output: process.stderr})
    try {
      return /^y(es)?$/i.test((await rl.question('Remove these? [y/N] ')).trim())
    } finally {
      rl.close()
    }
  }
}
