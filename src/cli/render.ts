// Human renderings shared by commands (tables, the start banner).
import type {Served} from '../core/preview/manager.js'
import type {PreviewRow} from '../core/records/types.js'

export function sandboxLabel(row: PreviewRow): string {
  return row.sandbox_session_id ? `${row.sandbox_backend}/${row.sandbox_session_id}` : row.sandbox_backend
}

/** What a row serves: `branch@sha7` (the ref, or `detached`, when no branch), `attached`, or `-` outside git. */
export function codeLabel(row: Pick<PreviewRow, 'branch' | 'commit' | 'ref' | 'sandbox_backend'>): string {
  if (row.sandbox_backend === 'attached') return 'attached'
  if (!row.commit) return '-'
  return `${row.branch ?? row.ref ?? 'detached'}@${row.commit.slice(0, 7)}`
}

/** The lines ARCHITECTURE.md promises after a start, and what is served and from where. */
export function startBanner(row: PreviewRow, shareUrl: string, served?: Served): string[] {
  const lines = [
    `Started preview ${row.preview_id} (${row.tunnel_provider} -> localhost:${row.port})`,
    `URL: ${shareUrl}`,
    `auth=${row.auth_mode} sandbox=${sandboxLabel(row)} expires_epoch=${row.expires_at_epoch} (${timeLeft(row.expires_at_epoch)})`,
  ]
  if (served) {
    const code = codeLabel({...row, branch: served.branch, commit: served.commit, ref: served.ref})
    // An attached server, or a directory without commits, has no branch@sha to name.
    lines.push(`Serving ${code === 'attached' || code === '-' ? '' : `${code} `}from ${served.where}`)
  }

  return lines
}

/** A fixed-width table: each column as wide as its widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map((r) => line(r))].join('\n')
}

/** "in 4h", "in 30m", "in 45s" (or "expired"): the time left, for people reading an epoch. */
export function timeLeft(epoch: number, now = Date.now() / 1000): string {
  const left = expiresIn(epoch, now)
  return left === 'expired' ? left : `in ${left.replace(/h0m$/, 'h')}`
}

export function expiresIn(epoch: number, now = Date.now() / 1000): string {
  const s = Math.round(epoch - now)
  if (s <= 0) return 'expired'
  if (s < 120) return `${s}s`
  const minutes = Math.round(s / 60)
  if (minutes < 120) return `${minutes}m`
  return `${Math.floor(minutes / 60)}h${minutes % 60}m`
}
