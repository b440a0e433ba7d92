// Human renderings shared by commands (tables, the start banner).
import type {PreviewRow} from '../core/preview/types.js'

export function sandboxLabel(row: PreviewRow): string {
  return row.sandbox_session_id ? `${row.sandbox_backend}/${row.sandbox_session_id}` : row.sandbox_backend
}

/** The lines ARCHITECTURE.md promises after a start. */
export function startBanner(row: PreviewRow, shareUrl: string): string[] {
  return [
    `Started preview ${row.preview_id} (${row.tunnel_provider} -> localhost:${row.port})`,
    `URL: ${shareUrl}`,
    `auth=${row.auth_mode} sandbox=${sandboxLabel(row)} expires_epoch=${row.expires_at_epoch} (${timeLeft(row.expires_at_epoch)})`,
  ]
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
