// The request-body framer: pure and synchronous. It tells where a body ends (Content-Length or chunked) so the gateway
// and the dev server always agree on where the next request starts. Chunked bodies are re-framed as they pass:
// size lines are re-written as bare hex (extensions dropped) and trailer fields are dropped, so what the dev server
// parses is exactly the chunk data the gateway counted, whatever a lenient parser would make of the original.

export type FramerResult = {off: number; done: boolean} | {error: string}

const enum Chunk {
  Size,
  Data,
  DataEnd,
  Trailer,
}

/** Longest chunk-size line (with extensions) or trailer line accepted. */
const MAX_LINE = 4096
const CHUNK_SIZE_LINE =
  /^([0-9a-fA-F]{1,15})((?:;[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:=(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+|"(?:[\t !#-[\]-~]|\\[\t -~])*"))?)*)\r\n$/
const TRAILER_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t \x21-\x7e\x80-\xff]*\r\n$/

export class BodyFramer {
  private remaining = 0
  private chunked = false
  private chunk = Chunk.Size
  private line = ''
  /** Body bytes (chunk data) passed so far. */
  bodyBytes = 0

  /** A body of `length` bytes, or chunked when length is null. */
  reset(length: number | null): void {
    this.chunked = length === null
    this.remaining = length ?? 0
    this.chunk = Chunk.Size
    this.line = ''
    this.bodyBytes = 0
  }

  /** Consumes body bytes from data[off...]; `emit` gets what goes upstream. */
  feed(data: Buffer, off: number, emit: (bytes: Buffer | string) => void): FramerResult {
    if (!this.chunked) {
      const n = Math.min(this.remaining, data.length - off)
      if (n > 0) emit(off === 0 && n === data.length ? data : data.subarray(off, off + n))
      this.remaining -= n
      this.bodyBytes += n
      return {done: this.remaining === 0, off: off + n}
    }

    while (off < data.length) {
      if (this.chunk === Chunk.Data) {
        const n = Math.min(this.remaining, data.length - off)
        emit(data.subarray(off, off + n))
        this.remaining -= n
        this.bodyBytes += n
        off += n
        if (this.remaining === 0) this.chunk = Chunk.DataEnd
        continue
      }

      const nl = data.indexOf(10, off)
      const stop = nl === -1 ? data.length : nl + 1
      if (this.line.length + (stop - off) > MAX_LINE) return {error: 'Chunk line too long.'}
      this.line += data.toString('latin1', off, stop)
      off = stop
      if (nl === -1) return {done: false, off}
      const line = this.line
      this.line = ''
      switch (this.chunk) {
        case Chunk.Size: {
          const m = CHUNK_SIZE_LINE.exec(line)
          if (!m) return {error: 'Bad chunk size line.'}
          const size = Number.parseInt(m[1]!, 16)
          emit(`${size.toString(16)}\r\n`)
          if (size === 0) this.chunk = Chunk.Trailer
          else {
            this.remaining = size
            this.chunk = Chunk.Data
          }

          break
        }

        case Chunk.DataEnd: {
          if (line !== '\r\n') return {error: 'Bad chunk terminator.'}
          emit('\r\n')
          this.chunk = Chunk.Size
          break
        }

        default: {
          // Trailer section: fields are checked and dropped; the empty line ends the message.
          if (line === '\r\n') {
            emit('\r\n')
            return {done: true, off}
          }

          if (!TRAILER_LINE.test(line)) return {error: 'Bad trailer line.'}
        }
      }
    }

    return {done: false, off}
  }
}
