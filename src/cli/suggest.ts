// "Did you mean": the closest known name to a mistyped one. plugin-not-found offers its suggestion only as a
// prompt on a terminal and exports no helper, and oclif suggests nothing for unknown flags; agents and scripts
// (no TTY) get the same suggestion through this in the error's hint.

/** Levenshtein distance (small inputs: command and flag names). */
function distance(a: string, b: string): number {
  let prev = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }

    prev = cur
  }

  return prev[b.length]!
}

/** The known name closest to `input` (a prefix match first), or null when nothing is near. */
export function closest(input: string, known: string[]): string | null {
  const prefixed = known.filter((k) => k.startsWith(input))
  if (prefixed.length === 1) return prefixed[0]!
  let best: string | null = null
  let bestDistance = Infinity
  for (const k of known) {
    const d = distance(input, k)
    if (d < bestDistance) {
      best = k
      bestDistance = d
    }
  }

  return best !== null && bestDistance <= Math.max(2, Math.floor(input.length / 2)) ? best : null
}
