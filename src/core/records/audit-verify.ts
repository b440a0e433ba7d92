// Verifies the HMAC chain of the audit log and names the first bad entry and what was done to it.
import {createHmac, createSecretKey, type KeyObject} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {canonicalJson, loadAuditKey, parseAuditLine, readAuditAnchors} from './audit.js'
import type {SddPaths} from './paths.js'

export type AuditProblem = 'edited' | 'deleted' | 'reordered' | 'inserted' | 'forged' | 'malformed'

export interface AuditBadEntry {
  /** The seq to look at: for a deletion the first missing seq, otherwise the seq the bad line carries. */
  seq: number | null
  /** 1-based line number in the log (0 when the problem is the head anchor, not a line). */
  line: number
  problem: AuditProblem
  message: string
}

export interface AuditVerifyResult {
  ok: boolean
  /** Lines in the log (non-empty ones). */
  entries: number
  firstBad?: AuditBadEntry
}

interface Parsed {
  line: number
  seq: number
  prev: string | null
  mac: string
  /** The MAC recomputed with our key over the canonical JSON without `mac`. */
  macOk: boolean
}

type ParseOutcome = Parsed | {line: number; seq: number | null; error: string}

function parseLine(key: KeyObject, text: string, line: number): ParseOutcome {
  const parsed = parseAuditLine(text)
  if (!parsed.entry) return {error: parsed.error, line, seq: parsed.error === 'is not JSON' ? seqHint(text) : null}
  const obj = parsed.entry
  const seq = Number.isSafeInteger(obj.seq) && (obj.seq as number) > 0 ? (obj.seq as number) : null
  if (seq === null) return {error: 'has no positive integer seq', line, seq: null}
  if (typeof obj.mac !== 'string') return {error: 'has no mac', line, seq}
  if (obj.prev !== null && typeof obj.prev !== 'string') return {error: 'has no prev', line, seq}
  const mac = obj.mac
  return {line, mac, macOk: macMatches(key, text, obj, mac), prev: obj.prev as string | null, seq}
}

/**
 * appendAudit writes each line as canonical JSON, so the bytes the MAC covers are the line minus its
 * `"mac":"..."` member: checking those avoids re-serialising every entry (most of verify's time otherwise).
 * This is sound because a match means we MACed exactly those bytes. Lines that are not canonical (say,
 * reformatted by hand without changing a value) fall back to the canonical form of the parsed object.
 */
function macMatches(key: KeyObject, text: string, obj: Record<string, unknown>, mac: string): boolean {
  const hmac = (s: string) => createHmac('sha256', key).update(s).digest('hex')
  const fast = withoutMac(text, mac)
  if (fast !== null && timingSafeHexEqual(hmac(fast), mac)) return true
  const {mac: _mac, ...rest} = obj
  return timingSafeHexEqual(hmac(canonicalJson(rest)), mac)
}

function withoutMac(text: string, mac: string): string | null {
  const member = `"mac":${JSON.stringify(mac)}`
  const at = text.indexOf(member)
  if (at === -1) return null
  const end = at + member.length
  if (text[at - 1] === ',') return text.slice(0, at - 1) + text.slice(end)
  if (text[end] === ',') return text.slice(0, at) + text.slice(end + 1)
  return text.slice(0, at) + text.slice(end)
}

/** A best-effort seq from a line that is no longer JSON, so the report can still point somewhere. */
function seqHint(text: string): number | null {
  const m = /"seq"\s*:\s*(\d+)/.exec(text)
  return m?.[1] ? Number(m[1]) : null
}

function timingSafeHexEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/**
 * Walks the chain in file order and stops at the first line that does not fit.
 * One pass to parse and recompute every MAC, one to classify: 10,000 lines take tens of milliseconds.
 */
export function verifyAudit(paths: SddPaths): AuditVerifyResult {
  if (!existsSync(paths.audit)) return checkHead(paths, [], {entries: 0, ok: true})
  // One KeyObject for all lines: importing a raw key is most of createHmac's cost.
  const key = createSecretKey(loadAuditKey(paths))
  const texts = readFileSync(paths.audit, 'utf8').split('\n')
  const parsed: ParseOutcome[] = []
  for (let i = 0; i < texts.length; i++) {
    const text = texts[i] as string
    if (text.trim() === '') continue
    parsed.push(parseLine(key, text, i + 1))
  }

  const result: AuditVerifyResult = {entries: parsed.length, ok: true}
  const firstBad = classify(parsed)
  if (firstBad) return {...result, firstBad, ok: false}
  return checkHead(paths, parsed as Parsed[], result)
}

/** Where the first bad line sits: all the lines, its index, the seq expected there, and where each seq occurs. */
interface Place {
  entries: ParseOutcome[]
  i: number
  expSeq: number
  lines: Map<number, number[]>
}

function classify(entries: ParseOutcome[]): AuditBadEntry | undefined {
  // Where each seq occurs: tells a reorder (the missing seq shows up later) from a deletion,
  // and an inserted line (its seq is taken twice) from an edited one.
  const lines = new Map<number, number[]>()
  for (const [i, e] of entries.entries()) {
    if (e.seq === null) continue
    const at = lines.get(e.seq)
    if (at) at.push(i)
    else lines.set(e.seq, [i])
  }

  // Not one authentic line: the key is not the one that wrote this log (or the whole log is forged).
  const first = entries[0]
  if (first && !('error' in first) && entries.every((e) => 'error' in e || !e.macOk)) {
    return {
      line: first.line,
      message: `No entry carries a valid MAC: the key in .sdd/audit/.key did not write this log, or the whole log was forged.`,
      problem: 'forged',
      seq: first.seq,
    }
  }

  let before: Parsed | null = null
  for (const [i, e] of entries.entries()) {
    if ('error' in e) {
      return {
        line: e.line,
        message: `Line ${e.line}${e.seq === null ? '' : ` (seq ${e.seq})`} ${e.error}.`,
        problem: 'malformed',
        seq: e.seq,
      }
    }

    const expSeq = before ? before.seq + 1 : 1
    const expPrev = before ? before.mac : null
    if (e.macOk && e.seq === expSeq && e.prev === expPrev) {
      before = e
      continue
    }

    const place = {entries, expSeq, i, lines}
    return e.macOk ? misplaced(e, place) : unauthentic(e, place)
  }

  return undefined
}

/** A line whose MAC is not ours: forged at the end, inserted, or edited in place. */
function unauthentic(e: Parsed, {entries, expSeq, i, lines}: Place): AuditBadEntry {
  const next = entries[i + 1]
  // Nothing after it vouches for it: appended without the key (an edit of the last entry looks the same).
  if (i === entries.length - 1) {
    return {
      line: e.line,
      message: `The last line (${e.line}, seq ${e.seq}) does not carry a valid MAC: it was appended without the key (or the last entry was edited).`,
      problem: 'forged',
      seq: e.seq,
    }
  }

  if ((lines.get(e.seq)?.length ?? 0) > 1) {
    return {
      line: e.line,
      message: `Line ${e.line} claims seq ${e.seq}, which another line also holds, and its MAC is not ours: a line was inserted.`,
      problem: 'inserted',
      seq: e.seq,
    }
  }

  // The next line's valid MAC covers its prev, so a matching prev proves this mac field is the original:
  // the content around it changed.
  const nextVouches = next !== undefined && !('error' in next) && next.macOk && next.prev === e.mac
  if (nextVouches || (e.seq === expSeq && next?.seq === e.seq + 1)) {
    return {
      line: e.line,
      message: `Entry seq ${e.seq} (line ${e.line}) was edited: its MAC does not match its content.`,
      problem: 'edited',
      seq: e.seq,
    }
  }

  return {
    line: e.line,
    message: `Line ${e.line} (seq ${e.seq}) does not belong to the chain: a line was inserted.`,
    problem: 'inserted',
    seq: e.seq,
  }
}

/** An authentic entry in the wrong place: reordered, after a deletion, a copy, or spliced in. */
function misplaced(e: Parsed, {entries, expSeq, i, lines}: Place): AuditBadEntry {
  if (e.seq > expSeq) {
    const laterAt = (lines.get(expSeq) ?? []).find((j) => j > i)
    if (laterAt !== undefined) {
      const later = entries[laterAt] as ParseOutcome
      return {
        line: e.line,
        message: `Entries were reordered: line ${e.line} holds seq ${e.seq} where seq ${expSeq} belongs; seq ${expSeq} comes later, at line ${later.line}.`,
        problem: 'reordered',
        seq: e.seq,
      }
    }

    const missing = e.seq - expSeq === 1 ? `seq ${expSeq} is` : `seqs ${expSeq}-${e.seq - 1} are`
    return {
      line: e.line,
      message: `Entries were deleted: ${missing} missing before line ${e.line} (seq ${e.seq}).`,
      problem: 'deleted',
      seq: expSeq,
    }
  }

  if (e.seq < expSeq) {
    const duplicated = (lines.get(e.seq)?.length ?? 0) > 1
    const copy = duplicated && (lines.get(e.seq) ?? []).some((j) => j < i && (entries[j] as Parsed).mac === e.mac)
    if (copy) {
      return {
        line: e.line,
        message: `Line ${e.line} is a copy of the entry seq ${e.seq}: a line was inserted.`,
        problem: 'inserted',
        seq: e.seq,
      }
    }

    return {
      line: e.line,
      message: `Entries were reordered: line ${e.line} holds seq ${e.seq} after seq ${expSeq - 1}.`,
      problem: 'reordered',
      seq: e.seq,
    }
  }

  // Right seq, authentic, but prev does not name the line before: the neighbour was swapped for another
  // authentic entry (a spliced or forked log).
  return {
    line: e.line,
    message: `Entry seq ${e.seq} (line ${e.line}) does not chain to the line before it: entries were reordered or spliced.`,
    problem: 'reordered',
    seq: e.seq,
  }
}

/**
 * Tail truncation leaves a valid chain: the head anchors (last seq + mac, MACed) are what catch it. There are
 * two, in two directories, so deleting `.head` along with the last lines still shows: the log must reach the
 * furthest seq either of them records, and hold there the entry it names.
 */
function checkHead(paths: SddPaths, entries: Parsed[], result: AuditVerifyResult): AuditVerifyResult {
  const anchors = readAuditAnchors(paths)
  const forged = anchors.find((a) => a.value === 'invalid')
  if (forged) {
    return {
      ...result,
      firstBad: {line: 0, message: `The head anchor ${forged.file} was edited: its MAC is not ours.`, problem: 'forged', seq: null},
      ok: false,
    }
  }

  const present = anchors
    .flatMap((a) => (a.value && a.value !== 'invalid' ? [{file: a.file, ...a.value}] : []))
    .sort((a, b) => b.seq - a.seq)
  const last = entries.at(-1)
  for (const head of present) {
    if (!last || last.seq < head.seq) {
      const first = (last?.seq ?? 0) + 1
      const missing = head.seq === first ? `seq ${first} is` : `seqs ${first}-${head.seq} are`
      const message = `Entries were deleted from the end of the log: ${missing} missing (${head.file} records seq ${head.seq}).`
      return {...result, firstBad: {line: (last?.line ?? 0) + 1, message, problem: 'deleted', seq: first}, ok: false}
    }

    // The log may be ahead of an anchor (a writer died between the writes), never at odds with it.
    // The chain checked out, so seq n sits at index n - 1.
    const anchored = entries[head.seq - 1]
    if (anchored && anchored.mac !== head.mac) {
      return {
        ...result,
        firstBad: {
          line: anchored.line,
          message: `Entry seq ${head.seq} (line ${anchored.line}) is not the one the head anchor ${head.file} recorded: the log was replaced.`,
          problem: 'edited',
          seq: head.seq,
        },
        ok: false,
      }
    }
  }

  return result
}
