// webpack-dev-server bakes its own port into the client bundle (`hostname=0.0.0.0&port=8080&pathname=/ws`),
// and its client keeps an explicit port: behind a tunnel the HMR socket would aim at
// wss://public-host:8080, which does not exist, and on loopback it would go around the gateway.
// Rewriting that port to 0 makes the client use the page's own port, i.e. the gateway's (or the tunnel's).

const HOST_PART = 'hostname=0.0.0.0&'
/** Index in the needle of the first byte that changes: `port=` itself stays. */
const CHANGE_FROM = HOST_PART.length + 'port='.length

/** Same-length replacement of `port=<N>&`: `port=0&` plus a harmless filler parameter. */
function replacementFor(port: number): string {
  const n = String(port).length - 1 // filler length
  const filler = n === 0 ? '' : n === 1 ? '&' : `_${'x'.repeat(n - 2)}&`
  return `${HOST_PART}port=0&${filler}`
}

/**
 * Streams response chunks of script requests through a same-length rewrite (so Content-Length and chunk
 * framing stay right). A match split across two chunks is rewritten when the changing bytes are in the
 * second; one split inside the port digits themselves is left alone.
 */
export class DevSocketPortRewriter {
  private readonly needle: Buffer
  private readonly replacement: Buffer
  private carry = 0

  /** `port`: the dev server's, as its bundle carries it. */
  constructor(readonly port: number) {
    this.needle = Buffer.from(`${HOST_PART}port=${port}&`, 'latin1')
    this.replacement = Buffer.from(replacementFor(port), 'latin1')
  }

  /** Rewrites in place and returns the same buffer. */
  rewrite(chunk: Buffer): Buffer {
    const {needle, replacement} = this
    let from = 0
    if (this.carry > 0) {
      const rest = needle.length - this.carry
      if (chunk.length >= rest && chunk.compare(needle, this.carry, needle.length, 0, rest) === 0) {
        if (this.carry <= CHANGE_FROM) {
          for (let i = Math.max(this.carry, CHANGE_FROM); i < needle.length; i++) chunk[i - this.carry] = replacement[i]!
        }

        from = rest
      }

      this.carry = 0
    }

    let at = chunk.indexOf(needle, from)
    while (at !== -1) {
      replacement.copy(chunk, at)
      at = chunk.indexOf(needle, at + needle.length)
    }

    this.carry = partialAtEnd(chunk, needle)
    return chunk
  }

  /** A new response starts: forget a partial match from the last one. */
  reset(): void {
    this.carry = 0
  }
}

/** The length of the longest proper prefix of `needle` that the chunk ends with. */
function partialAtEnd(chunk: Buffer, needle: Buffer): number {
  const first = needle[0]!
  for (let k = Math.min(needle.length - 1, chunk.length); k > 0; k--) {
    if (chunk[chunk.length - k] !== first) continue
    if (chunk.compare(needle, 0, k, chunk.length - k) === 0) return k
  }

  return 0
}

/** Requests whose responses may carry the client bundle: scripts, by path. */
export function isScriptRequest(target: string): boolean {
  const q = target.indexOf('?')
  const path = q === -1 ? target : target.slice(0, q)
  return path.endsWith('.js') || path.endsWith('.mjs') || path.endsWith('.cjs')
}
