// The audit log: append-only JSON lines, each HMAC-chained to the one before (see ARCHITECTURE.md).
import {createHmac} from 'node:crypto'
import {closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync} from 'node:fs'
import path from 'node:path'
import {ensureDir, readOrCreateKey, writeFileAtomic} from '../fsutil.js'
import {withLock} from '../lock.js'
import type {SddPaths} from './paths.js'
import type {StopReason} from './types.js'

export type AuditEvent = 'start' | 'stop' | 'link' | 'revoke' | 'restart'

export interface AuditEntry {
  seq: number
  ts: string
  event: AuditEvent
  preview_id: string
  actor: string
  prev: string | null
  mac: string
  reason?: StopReason
  [detail: string]: unknown
}

export type AuditInput = {event: AuditEvent; preview_id: string; reason?: StopReason; actor?: string} & Record<string, unknown>

/** JSON with object keys sorted at every depth: the bytes the MAC is computed over. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
}

/** The HMAC of one entry: over the canonical JSON of everything but `mac`. */
export function macOf(key: Uint8Array, entry: Omit<AuditEntry, 'mac'> | AuditEntry): string {
  const {mac: _mac, ...rest} = entry as AuditEntry
  return createHmac('sha256', key).update(canonicalJson(rest)).digest('hex')
}

/** The chain's HMAC key, made (0600, 32 random bytes) on first use. */
export function loadAuditKey(paths: SddPaths): Buffer {
  return readOrCreateKey(paths.auditKey, 32)
}

/** One line of the log as parsed: its object, or what is wrong with it (verify's words: "Line 3 is not JSON"). */
export type AuditLine = {entry: Record<string, unknown>; error?: undefined} | {entry: null; error: 'is not JSON' | 'is not a JSON object'}

/**
 * The one parser of audit lines (verify, list --all, events, metrics and the append all read through it): a JSON
 * object, or why not. What the object must hold beyond that is each reader's to check.
 */
export function parseAuditLine(line: string): AuditLine {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return {entry: null, error: 'is not JSON'}
  }

  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {entry: null, error: 'is not a JSON object'}
  return {entry: value as Record<string, unknown>}
}

/** A line that can carry the chain on: an object with an integer seq and a mac. */
function parseEntry(line: string): AuditEntry | null {
  const {entry} = parseAuditLine(line)
  return entry && Number.isSafeInteger(entry.seq) && typeof entry.mac === 'string' ? (entry as AuditEntry) : null
}

/**
 * The last entry of the log, read from the tail (the log can be long), and whether the file ends with a
 * newline. Trailing lines that are not entries (a write cut short by a full disk, a hand edit) are passed
 * over: the chain continues from the last real entry, and verify names the bad line.
 */
function lastEntry(file: string): {entry: AuditEntry | null; endsWithNewline: boolean} {
  if (!existsSync(file)) return {endsWithNewline: true, entry: null}
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    if (size === 0) return {endsWithNewline: true, entry: null}
    let chunk = 4096
    for (;;) {
      const start = Math.max(0, size - chunk)
      const buf = Buffer.alloc(size - start)
      readSync(fd, buf, 0, buf.length, start)
      const endsWithNewline = buf.at(-1) === 0x0a
      const lines = buf.toString('utf8').split('\n')
      // Unless we read from the start, the first piece may be the tail of a longer line: never trust it.
      const whole = start === 0 ? lines : lines.slice(1)
      for (let i = whole.length - 1; i >= 0; i--) {
        const entry = whole[i]?.trim() ? parseEntry(whole[i] as string) : null
        if (entry) return {endsWithNewline, entry}
      }

      if (start === 0) return {endsWithNewline, entry: null}
      chunk *= 4
    }
  } finally {
    closeSync(fd)
  }
}

/** Appends one entry under the lock, so parallel writers never fork the chain. */
export async function appendAudit(paths: SddPaths, input: AuditInput): Promise<AuditEntry> {
  ensureDir(paths.auditDir)
  const key = loadAuditKey(paths)
  return withLock(paths.audit, () => {
    const {entry: last, endsWithNewline} = lastEntry(paths.audit)
    const {actor, event, preview_id: previewId, ...details} = input
    const entry = {
      ...details,
      actor: actor ?? defaultActor(),
      event,
      prev: last?.mac ?? null,
      preview_id: previewId,
      seq: (last?.seq ?? 0) + 1,
      ts: new Date().toISOString(),
    } as Omit<AuditEntry, 'mac'>
    const full = {...entry, mac: macOf(key, entry)} as AuditEntry
    const fd = openSync(paths.audit, 'a', 0o600)
    try {
      // After a cut-short line, start on a line of our own so this entry stays readable.
      writeSync(fd, (endsWithNewline ? '' : '\n') + canonicalJson(full) + '\n')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }

    writeAuditHead(paths, key, full)
    return full
  })
}

function defaultActor(): string {
  return process.env.PREVIEW_ACTOR ?? process.env.USER ?? 'unknown'
}

/** The non-empty lines of the log, in file order. */
export function readAuditLines(paths: SddPaths): string[] {
  if (!existsSync(paths.audit)) return []
  return readFileSync(paths.audit, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
}

/** All entries parsed, in file order (throws on a line that is not a JSON object; verify reports those instead). */
export function readAudit(paths: SddPaths): AuditEntry[] {
  return readAuditLines(paths).map((l, i) => {
    const parsed = parseAuditLine(l)
    if (!parsed.entry) throw new Error(`${paths.audit}: entry ${i + 1} ${parsed.error}`)
    return parsed.entry as AuditEntry
  })
}

/** Where the head anchor lives: the last seq and mac, MACed, so that cutting lines off the end shows. */
export function auditHeadFile(paths: SddPaths): string {
  return `${paths.audit}.head`
}

/**
 * The second copy of the head anchor, in another directory (.sdd/runtime/preview/), MACed under its own label:
 * deleting `.head` together with the last lines is still caught, because this one says how far the log went.
 */
export function auditRuntimeAnchorFile(paths: SddPaths): string {
  return path.join(paths.runtime, 'audit-head.json')
}

export type AnchorLabel = 'head' | 'runtime'

/** One anchor as found on disk: null when absent (a log older than it), 'invalid' when its MAC is not ours. */
export interface AuditAnchor {
  label: AnchorLabel
  file: string
  value: {seq: number; mac: string} | null | 'invalid'
}

function anchorFile(paths: SddPaths, label: AnchorLabel): string {
  return label === 'head' ? auditHeadFile(paths) : auditRuntimeAnchorFile(paths)
}

// The label is MACed too, so each anchor only vouches for itself (`head` keeps the form anchors always had).
function anchorMac(key: Uint8Array, label: AnchorLabel, seq: number, mac: string): string {
  return createHmac('sha256', key)
    .update(canonicalJson({anchor: label, mac, seq}))
    .digest('hex')
}

// Written under the log's lock right after the append; a crash in between leaves the log one entry
// ahead of the anchors, which verify accepts. The second copy is best effort: it must never fail an append
// whose entry is already on disk.
function writeAuditHead(paths: SddPaths, key: Uint8Array, entry: AuditEntry): void {
  for (const label of ['head', 'runtime'] as const) {
    const text = canonicalJson({hmac: anchorMac(key, label, entry.seq, entry.mac), mac: entry.mac, seq: entry.seq}) + '\n'
    try {
      writeFileAtomic(anchorFile(paths, label), text)
    } catch (error) {
      if (label === 'head') throw error
    }
  }
}

function readAnchor(paths: SddPaths, label: AnchorLabel): AuditAnchor {
  const file = anchorFile(paths, label)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {file, label, value: null}
    throw error
  }

  try {
    const head = JSON.parse(text) as {seq?: unknown; mac?: unknown; hmac?: unknown}
    if (!Number.isSafeInteger(head.seq) || typeof head.mac !== 'string' || typeof head.hmac !== 'string')
      return {file, label, value: 'invalid'}
    const ok = anchorMac(loadAuditKey(paths), label, head.seq as number, head.mac) === head.hmac
    return {file, label, value: ok ? {mac: head.mac, seq: head.seq as number} : 'invalid'}
  } catch {
    return {file, label, value: 'invalid'}
  }
}

/** Both anchors: `.sdd/audit/preview.jsonl.head` and its copy in .sdd/runtime/preview/. */
export function readAuditAnchors(paths: SddPaths): AuditAnchor[] {
  return [readAnchor(paths, 'head'), readAnchor(paths, 'runtime')]
}
