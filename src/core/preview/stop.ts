// `preview stop`: asks each supervisor to tear down (SIGTERM) and waits; when a supervisor is gone, does its
// work from the row (process groups signalled after checking their start times: pids are reused).
import {PreviewNotFound} from '../errors.js'
import {isAlive, killGroup, killPid, waitForExit} from '../process.js'
import {appendAudit} from '../records/audit.js'
import type {SddPaths} from '../records/paths.js'
import {findRow, readState, removeRow} from '../records/state.js'
import type {PreviewRow, StopReason} from '../records/types.js'
import {loadConfig} from './config.js'
import {resolvePreviewId} from './defaults.js'

/** How long `preview stop` waits for a supervisor to tear down before cleaning up itself. */
const STOP_WAIT_MS = 15_000

export interface StopResult {
  preview_id: string
  stopped: boolean
  reason: StopReason
  /** true when the supervisor was gone and stop cleaned up by itself. */
  cleaned_up: boolean
}

/** Stops the previews named (all of them with `all`, the only running one with neither), in parallel. */
export async function stopPreviews(paths: SddPaths, opts: {ids?: string[]; all?: boolean}): Promise<StopResult[]> {
  const rows = readState(paths).previews
  let ids = opts.ids ?? []
  if (opts.all) ids = rows.map((r) => r.preview_id)
  else if (ids.length === 0) ids = [resolvePreviewId(paths, undefined, 'stop')]
  for (const id of ids) if (!rows.some((r) => r.preview_id === id)) throw new PreviewNotFound(id)
  return Promise.all(
    ids.map((id) =>
      stopOne(
        paths,
        rows.find((r) => r.preview_id === id)!,
      ),
    ),
  )
}

async function stopOne(paths: SddPaths, row: PreviewRow): Promise<StopResult> {
  const id = row.preview_id
  const supervisorAlive = isAlive(row.supervisor_pid, row.supervisor_start_time)
  if (supervisorAlive && row.supervisor_pid) {
    killPid(row.supervisor_pid, 'SIGTERM')
    await waitForExit(row.supervisor_pid, STOP_WAIT_MS, row.supervisor_start_time)
  }

  // Whatever the supervisor did not finish (or could not, being dead), do here.
  const left = findRow(paths, id)
  if (!left) return {cleaned_up: false, preview_id: id, reason: 'operator', stopped: true}
  if (left.supervisor_pid && isAlive(left.supervisor_pid, left.supervisor_start_time)) {
    await killGroup(left.supervisor_pid, {graceMs: 500, startTime: left.supervisor_start_time})
    killPid(left.supervisor_pid, 'SIGKILL')
  }

  if (left.tunnel_pid) await killGroup(left.tunnel_pid, {startTime: left.tunnel_start_time})
  if (left.tunnel_provider === 'caddy') await removeEdgeRoute(paths, id)
  // The dev server leads its own process group (spawned detached): its pid is the group id.
  if (left.process_pid) await killGroup(left.process_pid, {startTime: left.process_start_time})
  const removed = await removeRow(paths, id)
  const reason: StopReason = supervisorAlive ? 'operator' : 'crash'
  // Only a preview that reached running has a start entry to balance.
  if (removed && removed.status !== 'starting') await appendAudit(paths, {cleaned_up_by: 'stop', event: 'stop', preview_id: id, reason})
  return {cleaned_up: true, preview_id: id, reason, stopped: true}
}

/** A dead supervisor's Caddy route (no process to kill: a route in someone else's server), removed by its id. */
async function removeEdgeRoute(paths: SddPaths, id: string): Promise<void> {
  try {
    const {removePreviewRoute} = await import('../tunnels/drivers/caddy.js')
    await removePreviewRoute(loadConfig(paths).providers.caddy ?? {}, id)
  } catch {
    // Caddy unreachable or the config unreadable: the route only points at a gateway that is gone now.
  }
}
