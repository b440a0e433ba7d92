// The audit log: append-only JSON lines, each HMAC-chained to the one before (see ARCHITECTURE.md).
import {createHmac} from 'node:crypto'
import {closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync} from 'node:fs'
import {ensureDir, readOrCreateKey} from '../fsutil.js'
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

export function macOf(key: Uint8Array, entry: Omit<AuditEntry, 'mac'> | AuditEntry): string {
  const {mac: _mac, ...rest} = entry as AuditEntry
  return createHmac('sha256', key).update(canonicalJson(rest)).digest('hex')
}

export function loadAuditKey(paths: SddPaths): Buffer {
  return readOrCreateKey(paths.auditKey, 32)
}

/** The last complete line of the log, read from the tail (the log can be long). */
function lastEntry(file: string): AuditEntry | null {
  if (!existsSync(file)) return null
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    let chunk = 4096
    while (chunk <= 1 << 24) {
      const start = Math.max(0, size - chunk)
      const buf = Buffer.alloc(size - start)
      readSync(fd, buf, 0, buf.length, start)
      const lines = buf.toString('utf8').split('\n').filter((l) => l.trim() !== '')
      // Need at least one whole line: either we read from the start, or more than one line is present.
      if (lines.length > 1 || start === 0) {
        const last = lines.at(-1)
        return last ? (JSON.parse(last) as AuditEntry) : null
      }

      chunk *= 4
    }

    return null
  } finally {
    closeSync(fd)
  }
}

/** Appends one entry under the lock, so parallel writers never fork the chain. */
export async function appendAudit(paths: SddPaths, input: AuditInput): Promise<AuditEntry> {
  ensureDir(paths.auditDir)
  const key = loadAuditKey(paths)
  return withLock(paths.audit, () => {
    const last = lastEntry(paths.audit)
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
      writeSync(fd, canonicalJson(full) + '\n')
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }

    return full
  })
}

function defaultActor(): string {
  return process.env.PREVIEW_ACTOR ?? process.env.USER ?? 'unknown'
}

/** All entries, in file order (lines that are not JSON are returned as null so verify can name them). */
export function readAuditLines(paths: SddPaths): string[] {
  if (!existsSync(paths.audit)) return []
  return readFileSync(paths.audit, 'utf8').split('\n').filter((l) => l.trim() !== '')
}

export function readAudit(paths: SddPaths): AuditEntry[] {
  return readAuditLines(paths).map((l) => JSON.parse(l) as AuditEntry)
}
