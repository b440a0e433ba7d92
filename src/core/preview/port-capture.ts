// Port capture from dev-server output (first cut; the corpus-backed parser replaces it).
const ANSI = /\u001B\[[0-?]*[ -/]*[@-~]|\u001B\][^\u0007\u001B]*(?:\u0007|\u001B\\)|\u001B[@-Z\\-_]/g

/** Removes ANSI escape sequences; keeps the text after the last carriage return. */
export function stripAnsi(text: string): string {
  const noAnsi = text.replace(ANSI, '')
  const cr = noAnsi.lastIndexOf('\r', noAnsi.length - 2)
  return (cr === -1 ? noAnsi : noAnsi.slice(cr + 1)).replace(/\r$/, '')
}

export interface PortCandidate {
  port: number
  host: string | null
  url: string | null
  score: number
  line: string
}

const URL_RE = /(https?):\/\/(\[[0-9a-f:]+]|[\w.-]+):(\d{2,5})/i
const IGNORE = /debugger|inspector|devtools|hmr|websocket|network:|in use|eaddrinuse/i

/** The address a line names as the server's, or null. */
export function parsePortLine(line: string): PortCandidate | null {
  const text = stripAnsi(line)
  if (IGNORE.test(text)) return null
  const m = URL_RE.exec(text)
  if (m?.[3]) return {host: m[2] ?? null, line: text, port: Number(m[3]), score: 1, url: m[0]}
  const p = /(?:listening|running|started|serving).*?(?:port\s+|:)(\d{2,5})\b/i.exec(text)
  if (p?.[1]) return {host: null, line: text, port: Number(p[1]), score: 0.5, url: null}
  return null
}

/** Fed line by line; remembers the best candidate so far. */
export class PortSniffer {
  readonly rejected = new Set<number>()
  private current: PortCandidate | null = null

  best(): PortCandidate | null {
    return this.current
  }

  push(rawLine: string): PortCandidate | null {
    const c = parsePortLine(rawLine)
    if (!c || this.rejected.has(c.port)) return null
    if (!this.current || c.score > this.current.score) {
      this.current = c
      return c
    }

    return null
  }
}
