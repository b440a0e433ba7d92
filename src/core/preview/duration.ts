// Durations as users type them: 30s, 30m, 4h, 1d (and combinations like 1h30m).
import {InvalidInput} from '../errors.js'

const UNIT_SECONDS: Record<string, number> = {d: 86_400, h: 3600, m: 60, s: 1}

/** Parses a duration into seconds; throws InvalidInput (exit 2) naming the flag and the accepted forms. */
export function parseDuration(text: string, what = 'duration'): number {
  const value = String(text).trim().toLowerCase()
  if (!/^(\d+[smhd])+$/.test(value)) {
    throw new InvalidInput(`Invalid ${what} "${text}".`, 'Use a number with a unit: 30s, 30m, 4h or 1d (combinations like 1h30m work too).')
  }

  let total = 0
  for (const m of value.matchAll(/(\d+)([smhd])/g)) total += Number(m[1]) * (UNIT_SECONDS[m[2]!] ?? 0)
  if (total <= 0) {
    throw new InvalidInput(`Invalid ${what} "${text}": it must be longer than zero.`, 'Use a positive duration such as 30m.')
  }

  return total
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`
  }

  return `${seconds}s`
}
