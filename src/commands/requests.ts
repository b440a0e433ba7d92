import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {idArg} from '../cli/id-arg.js'
import {untilSignal} from '../cli/signals.js'
import {PreviewNotFound} from '../core/errors.js'
import {PreviewManager} from '../core/preview/manager.js'
import {followRequests, readRequests, type RequestLine} from '../core/records/requests.js'
import {findRow} from '../core/records/state.js'
import {result, resultJsonLine} from '../cli/output.js'

export default class Requests extends BaseCommand {
  static override summary = 'The last 100 requests the gateway handled: method, path, status, time, bytes, and why it refused one.'
  static override description =
    'Like the inspector ngrok shows, for any tunnel. Never bodies or credentials: the path is shown without our token. With --json, NDJSON: one object a line (docs/json/request.json). With --follow, new requests are printed as they come until the preview stops.'

  static override examples = [
    '<%= config.bin %> requests',
    '<%= config.bin %> requests p-abc12345 --json',
    '<%= config.bin %> requests --follow',
  ]
  static override args = {id: idArg}
  static override flags = {
    follow: Flags.boolean({
      char: 'f',
      default: false,
      description: 'keep printing requests as they come until the preview stops or Ctrl-C',
    }),
  }

  async run(): Promise<undefined> {
    const {args, flags} = await this.parse(Requests)
    const manager = new PreviewManager({cwd: process.cwd()})
    const id = await manager.resolveId(args.id, 'requests')
    const paths = await manager.sddPaths()
    if (args.id && !findRow(paths, id) && readRequests(paths, id).length === 0) throw new PreviewNotFound(id)
    const print = (r: RequestLine) => (this.jsonEnabled() ? resultJsonLine(r) : result(describe(r)))
    if (flags.follow) await untilSignal((signal) => followRequests({onRequest: print, paths, previewId: id, signal}))
    else {
      const records = readRequests(paths, id)
      if (records.length === 0 && !this.jsonEnabled()) result(`No requests recorded for ${id}.`)
      for (const r of records) print(r)
    }

    return undefined // NDJSON: each request is already out, one a line
  }
}

/** One human line: time, method, status, duration, bytes, path, and the refusal if any. */
function describe(r: RequestLine): string {
  const time = new Date(r.at_epoch * 1000).toISOString().slice(11, 19)
  const refusal = r.refusal ? `  refused: ${r.refusal}` : ''
  return `${time}  ${r.method.padEnd(7)} ${String(r.status || '-').padEnd(4)} ${`${r.duration_ms}ms`.padStart(7)} ${String(r.bytes).padStart(8)}B  ${r.path}${refusal}`
}
