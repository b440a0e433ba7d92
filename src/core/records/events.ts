// A preview's lifecycle as events: the audit log's entries (start, link, revoke, restart, stop) merged with what
// only the supervisor sees (ready, crash, idle, wake), which it appends to .sdd/runtime/preview/events/<id>.jsonl.
// Read once (`preview events <id>`) or followed until the preview stops (`--follow`).
import {appendFileSync} from 'node:fs'
import path from 'node:path'
import {ensureDir} from '../fsutil.js'
import {parseAuditLine} from './audit.js'
import {FileTail, FOLLOW_POLL_MS, followUntilGone} from './follow.js'
import type {SddPaths} from './paths.js'

export type LifecycleEventName = 'start' | 'ready' | 'link' | 'revoke' | 'restart' | 'crash' | 'idle' | 'wake' | 'stop'
/** The events only the supervisor knows about (the rest come from the audit log). */
export type SupervisorEventName = 'ready' | 'crash' | 'idle' | 'wake'

export interface LifecycleEvent {
  event: LifecycleEventName
  preview_id: string
  /** Seconds since the epoch (integer). */
  at_epoch: number
  /** Milliseconds since the epoch: the order of events within a second. */
  at_ms: number
  /** Where it was recorded: the audit chain or the supervisor's events file. */
  source: 'audit' | 'supervisor'
  [field: string]: unknown
}

/** How often a follower looks for new events. */
export const EVENTS_POLL_MS = FOLLOW_POLL_MS
/** After the row is gone, how long a follower waits for the `stop` entry (written just after the row is removed). */
export const STOP_ENTRY_GRACE_MS = 3000

export function eventsFile(paths: SddPaths, previewId: string): string {
  return path.join(paths.runtime, 'events', `${previewId}.jsonl`)
}

/** Appends a supervisor event (one line, O_APPEND: lines from one writer never interleave). Never throws. */
export function emitEvent(paths: SddPaths, previewId: string, event: SupervisorEventName, fields: Record<string, unknown> = {}): void {
  try {
    ensureDir(path.dirname(eventsFile(paths, previewId)))
    const now = Date.now()
    const line = {event, preview_id: previewId, at_epoch: Math.floor(now / 1000), ...fields, at_ms: now}
    appendFileSync(eventsFile(paths, previewId), `${JSON.stringify(line)}\n`, {mode: 0o600})
  } catch {
    // Events are a view for watchers; a full disk must not take the preview down.
  }
}

/** Audit fields that are chain bookkeeping, not the event's own. */
const AUDIT_BOOKKEEPING = new Set(['mac', 'prev', 'ts', 'seq', 'actor'])

function fromAudit(entry: Record<string, unknown>): LifecycleEvent | null {
  if (typeof entry.event !== 'string' || typeof entry.preview_id !== 'string' || typeof entry.ts !== 'string') return null
  const ms = Date.parse(entry.ts)
  if (!Number.isFinite(ms)) return null
  const fields = Object.fromEntries(Object.entries(entry).filter(([k]) => !AUDIT_BOOKKEEPING.has(k)))
  // The three keys every event has come first (easier to read in a terminal); then the entry's own fields.
  return {
    event: entry.event as LifecycleEventName,
    preview_id: entry.preview_id,
    at_epoch: Math.floor(ms / 1000),
    ...fields,
    at_ms: ms,
    seq: entry.seq,
    source: 'audit',
  }
}

function fromSupervisor(entry: Record<string, unknown>): LifecycleEvent | null {
  if (typeof entry.event !== 'string' || typeof entry.preview_id !== 'string' || typeof entry.at_ms !== 'number') return null
  return {...entry, source: 'supervisor'} as LifecycleEvent
}

/** The JSON objects among the whole lines appended to a file since the last read (FileTail, parsed). */
export class JsonLineTail {
  private readonly tail: FileTail
  constructor(file: string) {
    this.tail = new FileTail(file)
  }

  read(): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = []
    for (const line of this.tail.readLines()) {
      if (!line.trim()) continue
      // A bad line is passed over: `preview audit verify` is what reports it.
      const {entry} = parseAuditLine(line)
      if (entry) out.push(entry)
    }

    return out
  }
}

/** One reader over both sources for one preview, returning what is new since the last read, in time order. */
export class EventReader {
  private readonly audit: JsonLineTail
  private readonly supervisor: JsonLineTail
  constructor(
    readonly paths: SddPaths,
    readonly previewId: string,
  ) {
    this.audit = new JsonLineTail(paths.audit)
    this.supervisor = new JsonLineTail(eventsFile(paths, previewId))
  }

  read(): LifecycleEvent[] {
    const events = [
      ...this.audit
        .read()
        .filter((e) => e.preview_id === this.previewId)
        .map((e) => fromAudit(e)),
      ...this.supervisor.read().map((e) => fromSupervisor(e)),
    ].filter((e): e is LifecycleEvent => e !== null && e.preview_id === this.previewId)
    return events.sort((a, b) => a.at_ms - b.at_ms)
  }
}

/** Every event recorded so far for a preview (running or gone). */
export function readEvents(paths: SddPaths, previewId: string): LifecycleEvent[] {
  return new EventReader(paths, previewId).read()
}

/**
 * Calls `onEvent` for every event of a preview, the recorded ones first, then each new one as it is written,
 * until the preview has stopped (its row is gone and its `stop` entry read, or STOP_ENTRY_GRACE_MS after the
 * row went) or `signal` aborts.
 */
export async function followEvents(opts: {
  paths: SddPaths
  previewId: string
  onEvent: (e: LifecycleEvent) => void
  signal?: AbortSignal
  pollMs?: number
}): Promise<void> {
  const reader = new EventReader(opts.paths, opts.previewId)
  let stopped = false
  await followUntilGone({
    graceMs: STOP_ENTRY_GRACE_MS,
    paths: opts.paths,
    pollMs: opts.pollMs ?? EVENTS_POLL_MS,
    previewId: opts.previewId,
    read() {
      for (const e of reader.read()) {
        opts.onEvent(e)
        if (e.event === 'stop') stopped = true
      }
    },
    // The `stop` entry is the last word (the CLI writes it when it cleans up after a dead supervisor).
    settled: () => stopped,
    signal: opts.signal,
  })
}
