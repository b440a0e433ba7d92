import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {idArg} from '../cli/id-arg.js'
import {untilSignal} from '../cli/signals.js'
import {followEvents, readEvents, type LifecycleEvent} from '../core/records/events.js'
import {PreviewNotFound} from '../core/errors.js'
import {PreviewManager} from '../core/preview/manager.js'
import {findRow} from '../core/records/state.js'
import {result, resultJsonLine} from '../cli/output.js'

export default class Events extends BaseCommand {
  static override summary = "A preview's lifecycle, one event a line: start, ready, link, revoke, restart, crash, idle, wake, stop."
  static override description =
    'From the audit log and the supervisor. With --json, NDJSON: one {"event","preview_id","at_epoch",...} object a line (docs/json/event.json). With --follow, new events are printed as they happen until the preview stops.'

  static override examples = [
    '<%= config.bin %> events',
    '<%= config.bin %> events p-abc12345 --json',
    '<%= config.bin %> events --follow --json | jq -c "select(.event == \\"stop\\")"',
  ]

  static override args = {id: idArg}
  static override flags = {
    follow: Flags.boolean({
      char: 'f',
      default: false,
      description: 'keep printing events as they happen until the preview stops or Ctrl-C',
    }),
  }

  async run(): Promise<undefined> {
    const {args, flags} = await this.parse(Events)
    const manager = new PreviewManager({cwd: process.cwd()})
    const id = await manager.resolveId(args.id, 'events')
    const paths = await manager.sddPaths()
    // A preview that is gone still has its events; an id with neither a row nor an event is a typo.
    if (args.id && !findRow(paths, id) && readEvents(paths, id).length === 0) throw new PreviewNotFound(id)
    const print = (e: LifecycleEvent) => (this.jsonEnabled() ? resultJsonLine(e) : result(describe(e)))
    if (flags.follow) await untilSignal((signal) => followEvents({onEvent: print, paths, previewId: id, signal}))
    else {
      const events = readEvents(paths, id)
      if (events.length === 0 && !this.jsonEnabled()) result(`No events recorded for ${id}.`)
      for (const e of events) print(e)
    }

    return undefined // NDJSON: each event is already out, one a line
  }
}

/** One human line: time, event, and its fields. */
function describe(e: LifecycleEvent): string {
  const skip = new Set(['event', 'preview_id', 'at_epoch', 'at_ms', 'source', 'seq'])
  const fields = Object.entries(e)
    .filter(([k, v]) => !skip.has(k) && v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
  return `${new Date(e.at_ms).toISOString()}  ${e.event.padEnd(7)}  ${fields.join(' ')}`.trimEnd()
}
