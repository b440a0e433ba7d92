// list, list --all and status: the rows of state.json with their liveness reconciled, and previews that ended
// (from the audit log).
import {PreviewNotFound} from '../errors.js'
import {areAlive, isAlive} from '../process.js'
import {parseAuditLine, readAuditLines, type AuditEntry} from '../records/audit.js'
import type {SddPaths} from '../records/paths.js'
import {redactUrl} from '../records/redact.js'
import {findRow, readState} from '../records/state.js'
import type {PreviewRow, StopReason} from '../records/types.js'

/** A preview that is gone, as `list --all` shows it (from its audit entries). */
export interface EndedPreview {
  preview_id: string
  status: 'ended'
  stop_reason: StopReason
  /** When it ended (the stop entry's ts) and started. */
  ended_at: string
  ended_at_epoch: number
  started_at_epoch: number | null
  tunnel_provider: string | null
  auth_mode: string | null
  command: string | null
  sandbox_backend: string | null
  branch: string | null
  commit: string | null
}

/** A row whose supervisor is gone is `crashed`, whatever it last said. */
function reconcile(row: PreviewRow): PreviewRow {
  if (row.status !== 'crashed' && !isAlive(row.supervisor_pid, row.supervisor_start_time)) return {...row, status: 'crashed'}
  return row
}

/** The row as commands print it: the share URL without its secret unless asked for. */
export function present(row: PreviewRow, showSecrets: boolean): PreviewRow {
  return showSecrets ? row : {...row, share_url: redactUrl(row.share_url)}
}

/** Rows with their liveness reconciled: a row whose supervisor died shows as `crashed`. */
export function listPreviews(paths: SddPaths, opts: {showSecrets?: boolean}): PreviewRow[] {
  const rows = readState(paths).previews
  // One liveness read for all rows (reconcile's isAlive, batched): no per-row ps spawn where there is no /proc.
  const alive = areAlive(rows.map((r) => ({pid: r.status === 'crashed' ? null : r.supervisor_pid, startTime: r.supervisor_start_time})))
  return rows.map((row, i) => present(row.status !== 'crashed' && !alive[i] ? {...row, status: 'crashed'} : row, opts.showSecrets ?? false))
}

/** One row, reconciled (PreviewNotFound when there is none). */
export function previewStatus(paths: SddPaths, id: string, opts: {showSecrets?: boolean}): PreviewRow {
  const row = findRow(paths, id)
  if (!row) throw new PreviewNotFound(id)
  return present(reconcile(row), opts.showSecrets ?? false)
}

/**
 * Previews that ended, from the audit log (newest first): each `stop` entry of a preview no longer in
 * state, with its reason (operator|expiry|crash) and when, and what its `start` entry recorded. With
 * `sinceEpoch`, only those that ended since then, and without the start details (plain `list`'s notice).
 */
export function endedPreviews(paths: SddPaths, opts: {sinceEpoch?: number; liveIds?: ReadonlySet<string>}): EndedPreview[] {
  // `liveIds`: the ids of state.json's rows when the caller has just read them (list), so they are not read twice.
  const live = opts.liveIds ?? new Set(readState(paths).previews.map((r) => r.preview_id))
  const brief = opts.sinceEpoch !== undefined
  const {starts, stops} = startsAndStops(paths, brief)
  const out: EndedPreview[] = []
  for (const [id, stop] of stops) {
    if (live.has(id)) continue
    if (brief && Date.parse(stop.ts) / 1000 < opts.sinceEpoch!) continue
    out.push(ended(id, stop, starts.get(id)))
  }

  return out.sort((a, b) => b.ended_at_epoch - a.ended_at_epoch)
}

/** The last start and stop entry of each preview (only stops when `stopsOnly`). */
function startsAndStops(paths: SddPaths, stopsOnly: boolean): {starts: Map<string, AuditEntry>; stops: Map<string, AuditEntry>} {
  const starts = new Map<string, AuditEntry>()
  const stops = new Map<string, AuditEntry>()
  for (const line of readAuditLines(paths)) {
    // Lines are canonical JSON: the event is findable without parsing every link and restart entry.
    if (!line.includes('"event":"stop"') && (stopsOnly || !line.includes('"event":"start"'))) continue
    const parsed = parseAuditLine(line)
    if (!parsed.entry) continue // a damaged line: `preview audit verify` reports it; the rest still lists
    const entry = parsed.entry as AuditEntry
    if (entry.event === 'start') starts.set(entry.preview_id, entry)
    else if (entry.event === 'stop') stops.set(entry.preview_id, entry)
  }

  return {starts, stops}
}

function ended(id: string, stop: AuditEntry, start: AuditEntry | undefined): EndedPreview {
  const str = (v: unknown) => (typeof v === 'string' ? v : null)
  return {
    auth_mode: str(start?.auth_mode),
    branch: str(start?.branch),
    command: str(start?.command),
    commit: str(start?.commit),
    ended_at: stop.ts,
    ended_at_epoch: Math.floor(Date.parse(stop.ts) / 1000),
    preview_id: id,
    sandbox_backend: str(start?.sandbox_backend),
    started_at_epoch: start ? Math.floor(Date.parse(start.ts) / 1000) : null,
    status: 'ended',
    stop_reason: stop.reason ?? 'operator',
    tunnel_provider: str(start?.provider),
  }
}
