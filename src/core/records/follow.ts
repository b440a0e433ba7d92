// The one file follower: a preview's log (`logs --follow`), its events and its request records (`events --follow`,
// `requests --follow`) are files another process appends to. FileTail reads what is new since the last read, as
// text or as whole lines; followUntilGone polls it until the preview is gone and its writer is done.
// Polling (every FOLLOW_POLL_MS) rather than fs.watch: these readers also end on a row leaving state.json and on
// a pid dying, which no file event reports, and a poll that finds nothing costs one fstat.
import {closeSync, fstatSync, openSync, readSync} from 'node:fs'
import {StringDecoder} from 'node:string_decoder'
import {setTimeout as sleep} from 'node:timers/promises'
import {isAlive} from '../process.js'
import type {SddPaths} from './paths.js'
import {findRow} from './state.js'

/** How often a follower looks for more. */
export const FOLLOW_POLL_MS = 200
/** A read takes at most this much of a file at once (a large backlog is read in several). */
const CHUNK_BYTES = 1 << 20

/** Splits text that arrives in pieces into lines (without their \n or \r\n); a line still being written waits. */
export class LineSplitter {
  private partial = ''
  /** With `maxLine`, an unfinished line keeps only its last `maxLine` characters (a runaway line stays bounded). */
  constructor(private readonly maxLine = Number.POSITIVE_INFINITY) {}

  push(text: string): string[] {
    if (text === '') return []
    const parts = (this.partial + text).split('\n')
    this.partial = parts.pop() ?? ''
    if (this.partial.length > this.maxLine) this.partial = this.partial.slice(-this.maxLine)
    return parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
  }

  /** The unfinished last line, once nothing more will come ('' when there is none). */
  end(): string {
    const rest = this.partial
    this.partial = ''
    return rest.endsWith('\r') ? rest.slice(0, -1) : rest
  }
}

/**
 * What another process appends to a file, from `offset` on. A file that shrank (cut back or replaced) is read
 * again from its start. Characters split across two reads come out whole (one decoder for the whole stream).
 */
export class FileTail {
  private decoder = new StringDecoder('utf8')
  private lines: LineSplitter

  constructor(
    readonly file: string,
    /** The byte up to which the file has been read. */
    public offset = 0,
    private readonly opts: {maxLine?: number} = {},
  ) {
    this.lines = new LineSplitter(opts.maxLine)
  }

  /** The text appended since the last read ('' when there is none, or no file yet). */
  readText(): string {
    let fd: number
    try {
      fd = openSync(this.file, 'r')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
      throw error
    }

    try {
      const size = fstatSync(fd).size
      if (size < this.offset) {
        this.offset = 0
        this.decoder = new StringDecoder('utf8')
        this.lines = new LineSplitter(this.opts.maxLine)
      }

      let text = ''
      while (this.offset < size) {
        const buf = Buffer.alloc(Math.min(size - this.offset, CHUNK_BYTES))
        const n = readSync(fd, buf, 0, buf.length, this.offset)
        if (n <= 0) break
        this.offset += n
        text += this.decoder.write(buf.subarray(0, n))
      }

      return text
    } finally {
      closeSync(fd)
    }
  }

  /** The whole lines appended since the last read; a last line without its newline yet waits for the next. */
  readLines(): string[] {
    const text = this.readText() // first: a file that shrank starts a new splitter
    return this.lines.push(text)
  }
}

export interface FollowOptions {
  paths: SddPaths
  previewId: string
  /** Reads and hands on what is new: called on every poll, and once more at the end. */
  read(): void
  /**
   * Asked once the preview is gone (its row removed, or its supervisor dead): true when nothing more will be
   * written. Until then the follower keeps reading, for at most `graceMs`.
   */
  settled(supervisorAlive: boolean): boolean
  graceMs: number
  pollMs?: number
  signal?: AbortSignal | undefined
}

/**
 * Calls `read` every poll until the preview is gone and settled (or `graceMs` after it went), then once more;
 * or until `signal` aborts. A stopping supervisor removes its row before its last writes, hence the grace.
 */
export async function followUntilGone(opts: FollowOptions): Promise<void> {
  let last = findRow(opts.paths, opts.previewId) // the supervisor to watch once the row is gone
  let goneAt: number | null = null
  while (!opts.signal?.aborted) {
    opts.read()
    const row = findRow(opts.paths, opts.previewId)
    if (row) last = row
    const alive = last !== undefined && isAlive(last.supervisor_pid, last.supervisor_start_time)
    if (!row || !alive) {
      goneAt ??= Date.now()
      if (opts.settled(alive) || Date.now() - goneAt >= opts.graceMs) {
        opts.read() // whatever was written while it went
        return
      }
    }

    await sleep(opts.pollMs ?? FOLLOW_POLL_MS)
  }
}
