// The request inspector (`preview requests`): the gateway keeps a record of every request it handled (method, path
// without our token, status, duration, bytes, refusal; never bodies or credentials); the supervisor writes them,
// batched, to .sdd/runtime/preview/requests/<id>.jsonl, kept short; readers take the last REQUESTS_SHOWN.
import {appendFile, readFile, writeFile} from 'node:fs/promises'
import {existsSync, readFileSync} from 'node:fs'
import path from 'node:path'
import {ensureDir} from '../fsutil.js'
import type {RequestRecord} from '../gateway/types.js'
import {JsonLineTail} from './events.js'
import {followUntilGone} from './follow.js'
import type {SddPaths} from './paths.js'

/** What `preview requests` shows. */
const REQUESTS_SHOWN = 100
/** The file is cut back to REQUESTS_SHOWN lines once it holds this many. */
const REQUESTS_KEPT_MAX = 1000
/** How often buffered records are written (no file write on the gateway's hot path). */
const REQUESTS_FLUSH_MS = 250

export interface RequestLine extends RequestRecord {
  preview_id: string
}

function requestsFile(paths: SddPaths, previewId: string): string {
  return path.join(paths.runtime, 'requests', `${previewId}.jsonl`)
}

/** Buffers records and appends them every REQUESTS_FLUSH_MS; never throws (the inspector must not take a preview down). */
export class RequestLogWriter {
  private buffer: string[] = []
  private lines = 0
  private timer: NodeJS.Timeout | null = null
  private writing: Promise<void> = Promise.resolve()
  private readonly file: string

  constructor(
    paths: SddPaths,
    private readonly previewId: string,
  ) {
    this.file = requestsFile(paths, previewId)
    try {
      ensureDir(path.dirname(this.file))
    } catch {}
  }

  add(r: RequestRecord): void {
    this.buffer.push(JSON.stringify({preview_id: this.previewId, ...r}))
    if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), REQUESTS_FLUSH_MS)
      this.timer.unref()
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const batch = this.buffer
    this.buffer = []
    if (batch.length === 0) return this.writing
    this.writing = this.writing.then(async () => {
      try {
        await appendFile(this.file, `${batch.join('\n')}\n`, {mode: 0o600})
        this.lines += batch.length
        if (this.lines >= REQUESTS_KEPT_MAX) {
          const kept = (await readFile(this.file, 'utf8')).trimEnd().split('\n').slice(-REQUESTS_SHOWN)
          await writeFile(this.file, `${kept.join('\n')}\n`, {mode: 0o600})
          this.lines = kept.length
        }
      } catch {}
    })
    return this.writing
  }
}

function parse(line: string): RequestLine | null {
  try {
    const v = JSON.parse(line) as RequestLine
    return v && typeof v === 'object' && typeof v.method === 'string' ? v : null
  } catch {
    return null
  }
}

/** The last REQUESTS_SHOWN requests of a preview, oldest first. */
export function readRequests(paths: SddPaths, previewId: string): RequestLine[] {
  const file = requestsFile(paths, previewId)
  if (!existsSync(file)) return []
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
  return lines
    .slice(-REQUESTS_SHOWN)
    .map((l) => parse(l))
    .filter((r): r is RequestLine => r !== null)
}

/** The recorded requests, then each new one as it is written, until the preview stops or `signal` aborts. */
export async function followRequests(opts: {
  paths: SddPaths
  previewId: string
  onRequest: (r: RequestLine) => void
  signal?: AbortSignal
}): Promise<void> {
  for (const r of readRequests(opts.paths, opts.previewId)) opts.onRequest(r)
  const tail = new JsonLineTail(requestsFile(opts.paths, opts.previewId))
  tail.read() // skip what was just printed
  await followUntilGone({
    graceMs: REQUESTS_FLUSH_MS * 2, // the supervisor's last batch
    paths: opts.paths,
    previewId: opts.previewId,
    read() {
      for (const v of tail.read()) if (typeof v.method === 'string') opts.onRequest(v as unknown as RequestLine)
    },
    settled: (supervisorAlive) => !supervisorAlive, // it flushes before it exits
    signal: opts.signal,
  })
}
