// Reading what another process appends to a file: whole lines or text, from an offset on, characters split
// across two reads kept whole. No dependencies beyond node:fs, so the supervisor's log reader and the CLI's
// followers (follow.ts) share it without loading anything else.
import {closeSync, fstatSync, openSync, readSync} from 'node:fs'
import {StringDecoder} from 'node:string_decoder'
import {LineSplitter} from '../lines.js'

export {LineSplitter} from '../lines.js'

/** A read takes at most this much of a file at once (a large backlog is read in several). */
const CHUNK_BYTES = 1 << 20

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
