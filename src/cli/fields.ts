// Contract fields derived from others (no oclif import: the start fast path uses these too).

/** The bearer credential in a token-mode link (`?token=`), for `Authorization: Bearer`; null otherwise. */
export function tokenOf(url: string | null | undefined): string | null {
  if (!url) return null
  try {
    return new URL(url).searchParams.get('token')
  } catch {
    return null
  }
}

/** Seconds since the epoch for a millisecond field (the `*_epoch` twin of a `*_at_ms` one). */
export function epochOf(ms: unknown): number | null {
  return typeof ms === 'number' && Number.isFinite(ms) ? Math.floor(ms / 1000) : null
}
