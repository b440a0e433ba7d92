// Port capture: reads a dev server's output line by line and picks the address a human would read as the server's.
//
// Decisions (ARCHITECTURE.md "Port capture"):
// - A line is classified once, in this order: "port N is in use" (the port is remembered as rejected and never
//   chosen), ignored (debugger, inspector, HMR, live reload, websocket URLs), LAN (`Network:`, `On Your Network`,
//   `External URL`, or a private/public non-loopback IP), then a candidate.
// - Candidates are scored: a `Local:`-style label 100, a "listening on / running at / ready on ..." phrase 90,
//   a port named without a host ("started on port 8080") 80, a line that is only a URL 60 (http-server, Gatsby),
//   any other loopback URL 20. Loopback and wildcard hosts get a small bonus, https a small malus (the gateway
//   speaks http to the dev server; ASP.NET prints its https address first).
// - LAN lines are never returned by `parsePortLine` or `PortSniffer.push`; the sniffer keeps the first one as a
//   fallback that `best()` returns only while nothing better was seen (a server bound to a LAN address only).
//   Callers that act on `push()` therefore never act on a LAN line; the socket scan covers the rest.
// - Equal scores keep the first seen: Puma and Flask print the loopback address before the others.
// - `url` is the URL as printed (Puma's `tcp://` included); null when the line named only host:port or a port.
// - Node's readline also splits on a bare \r; `stripAnsi` keeps the text after the last \r for callers that
//   split on \n only, so a spinner redrawn in place never hides the address printed after it.
import {stripAnsi} from '../ansi.js'

/** One address read from the output. `host` is unbracketed (`::1`); `url` is the URL as printed, if any. */
export interface PortCandidate {
  port: number
  host: string | null
  url: string | null
  score: number
  line: string
}

/** Lines longer than this are only examined up to here (minified stack dumps can be megabytes). */
const MAX_LINE = 2000

/** Score a LAN fallback gets; below every real candidate. */
export const LAN_FALLBACK_SCORE = 5

// stripAnsi is shared with the tunnel drivers' line reader (src/core/ansi.ts); re-exported for callers of this module.
export {stripAnsi}

// "Port 3000 is in use, trying 3001 instead", "EADDRINUSE ... :::3000", "Something is already running on port
// 3000", "Port 8080 was already in use", "('127.0.0.1', 8000): address already in use".
const IN_USE_HINT_RE =
  /in use|eaddrinuse|already running|could not be used|is unavailable|not available|already bound|is taken|is occupied/i
const IN_USE_PORT_RES: RegExp[] = [
  /\bport\s*:?\s*(\d{1,5})\b[^,.;]*?\b(?:is|was)\s+(?:already\s+)?(?:in use|taken|occupied|unavailable|not available)/i,
  /\bport\s+(\d{1,5})\s+(?:already in use|could not be used|in use)/i,
  /already running (?:on|at) (?:port\s*)?(\d{1,5})\b/i,
  /\beaddrinuse\b.*?(?:(?:\]|[\w.]*|:):|port\s*)(\d{1,5})\b/i,
  /address already in use.*?(?::|port\s*)(\d{1,5})\b/i,
  /\(\s*'[^']*'\s*,\s*(\d{1,5})\s*\)\s*:?\s*address already in use/i,
  /\bport\s*"?(\d{1,5})"?\s*\(errno::eaddrinuse\)/i,
  /(\d{1,5})\s+is\s+(?:already\s+)?in use/i,
]

// Debugger and inspector endpoints, HMR/live-reload sockets: never the app.
const IGNORE_RE =
  /debugger|inspector|devtools|\bwss?:\/\/|\bhmr\b|hot[- ]?reload|hot module|live[- ]?reload|websocket|\bweb socket|socket server|\bws server/i

// Labels that name LAN / external addresses.
const LAN_LABEL_RE =
  /\b(?:network|lan|external|remote|public)\b\s*(?:url|address|\(ipv[46]\))?\s*:|on your network|\bexternal url\b|network \(via/i

// A label that names the local address, directly followed by the address: "Local:", "Local URL:", "┃ Local    http",
// "Loopback:", "Server address:".
const LOCAL_LABEL_RE =
  /\b(?:local|loopback|localhost url|server address)\b\s*(?:url|address)?\s*:?\s*(?=https?:\/\/|tcp:\/\/|\[|localhost|\d)/i

// "listening on", "running at", "started server on", "available on", "Serving HTTP on", "Ready on", "Now listening on",
// "Running MyApp.Endpoint with cowboy 2.10.0 at", "Listening at:", "Access X at".
const PHRASE_RE =
  /\b(?:listen(?:s|ing)?|running|serving|served|started|starting|start(?:ed)? server|available|ready|live|up|hosted|accessible|access|open|visit|browse|launched|booted|accepting connections)\b[^:/]{0,60}?\b(?:on|at|in)\b|\blistening at\b|\bnow listening\b|\bserver started:/i

// Port named without a host: "Tomcat started on port 8080 (http)", "started on port(s): 8080", "listening on port 3000".
const PORT_WORD_RE = /\bport(?:\(s\))?\s*[:=#]?\s*(\d{1,5})\b/i

// URL with an explicit port; host is an IPv6 literal in brackets or a name/IPv4.
const URL_RE = /\b(https?|tcp):\/\/(\[[0-9A-Fa-f:.%a-z]+\]|[A-Za-z0-9_.-]+):(\d{1,5})([^\s\])'",]*)/
// host:port without a scheme; the host must look like an address so "10:00:00" is not a port.
const HOSTPORT_RE = /(?:^|[\s(,'"=@])(\[[0-9A-Fa-f:.]+\]|localhost|\d{1,3}(?:\.\d{1,3}){3}|::|\*)?:(\d{1,5})\b(?![:.]\d)/
// A line that is only a URL, perhaps after a bullet: http-server's "Available on:" list, Gatsby.
const BARE_URL_LINE_RE = /^[\s\-*•➜>›▸→|┃│]*(?:https?|tcp):\/\/\S+\s*$/

// Words that say a URL is somewhere else than the dev server: proxy targets, databases, docs.
const ELSEWHERE_RE =
  /prox(?:y|ied|ying)|->|=>|→|database|postgres|mysql|redis|mongo|graphql endpoint|\bdocs?\b|api server|backend|upstream|target/i

type Classified =
  | {kind: 'candidate'; candidate: PortCandidate}
  | {kind: 'lan'; candidate: PortCandidate}
  | {kind: 'in-use'; port: number | null}
  | {kind: 'none'}

const NONE: Classified = {kind: 'none'}

function validPort(text: string | undefined): number | null {
  if (!text) return null
  const n = Number(text)
  return Number.isInteger(n) && n > 0 && n <= 65_535 ? n : null
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

type HostClass = 'loopback' | 'wildcard' | 'name' | 'lan'

function hostClass(host: string | null): HostClass {
  if (host === null) return 'wildcard'
  const h = host.toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^(?:::ffff:)?127\.\d+\.\d+\.\d+$/.test(h)) return 'loopback'
  if (h === '0.0.0.0' || h === '::' || h === '*' || h === '[::]' || h === '') return 'wildcard'
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(h) || h.includes(':')) return 'lan'
  return 'name'
}

const HOST_BONUS: Record<HostClass, number> = {lan: 0, loopback: 5, name: 1, wildcard: 3}

function inUsePort(line: string): number | null {
  for (const re of IN_USE_PORT_RES) {
    const m = re.exec(line)
    const port = validPort(m?.[1])
    if (port !== null) return port
  }

  return null
}

interface Address {
  port: number
  host: string | null
  url: string | null
}

function findAddress(line: string): Address | null {
  const u = URL_RE.exec(line)
  if (u) {
    const port = validPort(u[3])
    if (port === null) return null
    const url = `${u[1]}://${u[2]}:${u[3]}${(u[4] ?? '').replace(/[.,;:!*]+$/, '')}`
    return {host: unbracket(u[2] ?? ''), port, url}
  }

  const hp = HOSTPORT_RE.exec(line)
  if (hp) {
    const port = validPort(hp[2])
    if (port !== null) return {host: hp[1] ? unbracket(hp[1]) : null, port, url: null}
  }

  const pw = PORT_WORD_RE.exec(line)
  if (pw) {
    const port = validPort(pw[1])
    if (port !== null) return {host: null, port, url: null}
  }

  return null
}

function classify(raw: string): Classified {
  const line = stripAnsi(raw.length > MAX_LINE ? raw.slice(0, MAX_LINE) : raw)
  // Cheap early exit: every address and every "in use" port has a digit.
  if (!/\d/.test(line)) return NONE
  if (IN_USE_HINT_RE.test(line)) return {kind: 'in-use', port: inUsePort(line)}
  if (IGNORE_RE.test(line)) return NONE
  const addr = findAddress(line)
  if (!addr) return NONE
  const cls = hostClass(addr.host)
  const text = line.trim()
  const make = (score: number): PortCandidate => ({...addr, line: text, score})
  if (LAN_LABEL_RE.test(line) || cls === 'lan') return {candidate: make(LAN_FALLBACK_SCORE), kind: 'lan'}

  let base: number
  if (LOCAL_LABEL_RE.test(line)) base = 100
  else if (PHRASE_RE.test(line) && !(addr.url && ELSEWHERE_RE.test(line))) base = addr.host === null && addr.url === null ? 80 : 90
  else if (addr.url && BARE_URL_LINE_RE.test(line)) base = 60
  else if (addr.url && cls !== 'name' && !ELSEWHERE_RE.test(line)) base = 20
  else return NONE

  const httpsMalus = addr.url?.startsWith('https:') ? 1 : 0
  return {candidate: make(base + HOST_BONUS[cls] - httpsMalus), kind: 'candidate'}
}

/** Reads one output line (raw, ANSI allowed) and returns the server address it names, or null. Pure. */
export function parsePortLine(line: string): PortCandidate | null {
  const c = classify(line)
  return c.kind === 'candidate' ? c.candidate : null
}

/** Stateful reader fed the dev server's output line by line; keeps the best candidate and the ports said taken. */
export class PortSniffer {
  private readonly _rejected = new Set<number>()
  private readonly candidates: PortCandidate[] = []
  private lan: PortCandidate | null = null
  private current: PortCandidate | null = null

  /** Ports the output said are taken ("Port 3000 is in use, trying 3001"), so they are never chosen. */
  get rejected(): ReadonlySet<number> {
    return this._rejected
  }

  /** Feeds one line; returns the new best candidate when this line names a better one, else null. */
  push(rawLine: string): PortCandidate | null {
    const c = classify(rawLine)
    switch (c.kind) {
      case 'none': {
        return null
      }

      case 'in-use': {
        if (c.port !== null && !this._rejected.has(c.port)) {
          this._rejected.add(c.port)
          // A port named earlier and now said taken (a second instance failing) is not the server's.
          if (this.current?.port === c.port) this.current = this.pick()
          if (this.lan?.port === c.port) this.lan = null
        }

        return null
      }

      case 'lan': {
        if (this.lan === null && !this._rejected.has(c.candidate.port)) this.lan = c.candidate
        return null
      }

      case 'candidate': {
        const cand = c.candidate
        if (this._rejected.has(cand.port)) return null
        // Bounded memory: only the candidates needed to re-pick after a rejection.
        if (this.candidates.length < 64) this.candidates.push(cand)
        if (this.current === null || cand.score > this.current.score) {
          this.current = cand
          return cand
        }

        return null
      }
    }
  }

  /** The best candidate so far; a LAN address only when nothing else was seen. */
  best(): PortCandidate | null {
    return this.current ?? this.lan
  }

  private pick(): PortCandidate | null {
    let out: PortCandidate | null = null
    for (const cand of this.candidates) {
      if (this._rejected.has(cand.port)) continue
      if (out === null || cand.score > out.score) out = cand
    }

    return out
  }
}
