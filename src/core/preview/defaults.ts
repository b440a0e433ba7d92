// Ids that may be left out: `status`, `logs`, `events`, `share`, `restart` and `stop` without an id use the only
// running preview of this repository, and name the candidates when there are several.
import {PreviewError} from '../errors.js'
import {isAlive} from '../process.js'
import type {SddPaths} from '../records/paths.js'
import {readState} from '../records/state.js'
import type {PreviewRow} from '../records/types.js'

/** A preview whose supervisor is alive and that is not on its way out. */
function isRunning(row: PreviewRow): boolean {
  return row.status !== 'crashed' && row.status !== 'stopping' && isAlive(row.supervisor_pid, row.supervisor_start_time)
}

/** `id` when given; otherwise the id of the one running preview (bad input, exit 2, when there are none or several). */
export function resolvePreviewId(paths: SddPaths, id: string | undefined, command: string): string {
  if (id) return id
  const running = readState(paths).previews.filter((row) => isRunning(row))
  if (running.length === 1) return running[0]!.preview_id
  if (running.length === 0) {
    throw new PreviewError('NO_RUNNING_PREVIEW', 'No preview is running in this repository, so there is none to pick without an id.', {
      hint: `Start one with \`preview start\`, or name one: \`preview ${command} <id>\` (\`preview list\` shows them).`,
      kind: 'bad-input',
    })
  }

  const ids = running.map((row) => row.preview_id)
  throw new PreviewError('AMBIGUOUS_PREVIEW', `${ids.length} previews are running in this repository (${ids.join(', ')}); name one.`, {
    details: running.map((row) => `${row.preview_id}  ${row.status}  ${row.public_url ?? '-'}`),
    hint: `Run \`preview ${command} ${ids[0]}\` (or another of them).`,
    kind: 'bad-input',
  })
}
