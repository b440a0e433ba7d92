// Prometheus metrics derived from the audit log: the log is durable, a CLI process's counters are not.
import {open} from 'node:fs/promises'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {Counter, Gauge, Registry} from 'prom-client'
import {PreviewError} from '../errors.js'
import {parseAuditLine} from './audit.js'
import type {SddPaths} from './paths.js'

const STOP_REASONS = ['operator', 'expiry', 'crash'] as const
const AUTH_MODES = ['token', 'basic', 'none'] as const
/** Bytes read per syscall while catching up; a huge log is read in pieces, never in one buffer. */
const READ_CHUNK = 1 << 20
const NEWLINE = 0x0a

export interface PreviewMetrics {
  registry: Registry
  started: Counter<'provider' | 'auth_mode'>
  stopped: Counter<'reason'>
  linkIssued: Counter<'auth_mode'>
  active: Gauge
}

/** A fresh registry (no default process metrics: these series describe previews, not this process). */
function createPreviewMetrics(): PreviewMetrics {
  const registry = new Registry()
  const registers = [registry]
  return {
    active: new Gauge({help: 'Previews started and not yet stopped, per the audit log.', name: 'preview_active', registers}),
    linkIssued: new Counter({
      help: 'Share links issued (each start issues one, each share another), by auth mode.',
      labelNames: ['auth_mode'],
      name: 'preview_link_issued_total',
      registers,
    }),
    registry,
    started: new Counter({
      help: 'Previews started, by tunnel provider and auth mode.',
      labelNames: ['provider', 'auth_mode'],
      name: 'preview_started_total',
      registers,
    }),
    stopped: new Counter({
      help: 'Previews stopped, by reason (operator, expiry, crash).',
      labelNames: ['reason'],
      name: 'preview_stopped_total',
      registers,
    }),
  }
}

function label(value: unknown): string {
  return typeof value === 'string' && value !== '' ? value : 'unknown'
}

/**
 * Follows the audit log like `tail -f`: keeps a byte offset and reads only what was appended since the last
 * refresh. A partial last line (a writer mid-append) is left for the next refresh. If the file shrank, was
 * replaced (another inode), or the last line it read is no longer where it was, it starts over.
 */
export class MetricsReader {
  readonly metrics: PreviewMetrics
  /** Byte offset just past the last complete line counted. */
  offset = 0
  /** Lines skipped because they were not JSON objects (metrics count; verify is what judges them). */
  skipped = 0
  /** How many times the reader started over from byte 0 after the first read. */
  restarts = 0
  private ino: number | null = null
  private tail: {start: number; bytes: Buffer} | null = null
  private perPreview = new Map<string, number>()
  private pending: Promise<void> = Promise.resolve()

  constructor(private readonly paths: SddPaths) {
    this.metrics = createPreviewMetrics()
    this.zero()
  }

  /** Reads the appended bytes; concurrent calls (two scrapes at once) run one after the other. */
  refresh(): Promise<void> {
    const next = this.pending.then(() => this.readAppended())
    this.pending = next.catch(() => {})
    return next
  }

  /** The text exposition after a refresh. */
  async exposition(): Promise<string> {
    await this.refresh()
    return this.metrics.registry.metrics()
  }

  // Known label values start at 0 so that rate() and absent series behave from the first scrape.
  private zero(): void {
    for (const reason of STOP_REASONS) this.metrics.stopped.inc({reason}, 0)
    for (const mode of AUTH_MODES) this.metrics.linkIssued.inc({auth_mode: mode}, 0)
    this.metrics.active.set(0)
  }

  private reset(): void {
    if (this.offset > 0) this.restarts++
    this.metrics.registry.resetMetrics()
    this.perPreview.clear()
    this.offset = 0
    this.tail = null
    this.skipped = 0
    this.zero()
  }

  private async readAppended(): Promise<void> {
    let fh
    try {
      fh = await open(this.paths.audit, 'r')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      // No log (yet, or any more): nothing happened.
      if (this.offset > 0 || this.ino !== null) this.reset()
      this.ino = null
      return
    }

    try {
      const st = await fh.stat()
      if (this.ino !== null && st.ino !== this.ino) this.reset()
      this.ino = st.ino
      if (st.size < this.offset) this.reset()
      if (this.tail && !(await this.tailStillThere(fh))) this.reset()
      let carry = Buffer.alloc(0)
      let pos = this.offset
      while (pos < st.size) {
        const want = Math.min(READ_CHUNK, st.size - pos)
        const buf = Buffer.alloc(want)
        const {bytesRead} = await fh.read(buf, 0, want, pos)
        if (bytesRead === 0) break
        pos += bytesRead
        const data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead)
        const consumedTo = this.consume(data, pos - data.length)
        carry = Buffer.from(data.subarray(consumedTo))
      }
    } finally {
      await fh.close()
    }

    this.metrics.active.set([...this.perPreview.values()].filter((n) => n > 0).length)
  }

  /** Counts every complete line in `data` (which starts at file offset `base`); returns how many bytes it used. */
  private consume(data: Buffer, base: number): number {
    let start = 0
    for (let nl = data.indexOf(NEWLINE, start); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
      const line = data.subarray(start, nl)
      if (line.length > 0) {
        this.count(line.toString('utf8'))
        this.tail = {bytes: Buffer.from(line), start: base + start}
      }

      start = nl + 1
      this.offset = base + start
    }

    return start
  }

  private async tailStillThere(fh: Awaited<ReturnType<typeof open>>): Promise<boolean> {
    const tail = this.tail
    if (!tail) return true
    const buf = Buffer.alloc(tail.bytes.length)
    const {bytesRead} = await fh.read(buf, 0, buf.length, tail.start)
    return bytesRead === buf.length && buf.equals(tail.bytes)
  }

  private count(text: string): void {
    const {entry} = parseAuditLine(text)
    if (!entry) {
      this.skipped++
      return
    }

    const id = label(entry.preview_id)
    const m = this.metrics
    switch (entry.event) {
      case 'start': {
        // prom-client prints labels in insertion order: provider first, as the series is documented.
        m.started.inc({provider: label(entry.provider), auth_mode: label(entry.auth_mode)})
        m.linkIssued.inc({auth_mode: label(entry.auth_mode)})
        this.perPreview.set(id, (this.perPreview.get(id) ?? 0) + 1)
        break
      }

      case 'stop': {
        m.stopped.inc({reason: label(entry.reason)})
        // A stray stop (say, for a preview started before the log existed) must not make the gauge negative.
        this.perPreview.set(id, Math.max(0, (this.perPreview.get(id) ?? 0) - 1))
        break
      }

      case 'link': {
        m.linkIssued.inc({auth_mode: label(entry.auth_mode)})
        break
      }

      default: {
        // revoke, restart: in the trail, not in these series
        break
      }
    }
  }
}

/** The exposition of the whole log, read once (`preview metrics`). */
export async function renderMetrics(paths: SddPaths): Promise<string> {
  return new MetricsReader(paths).exposition()
}

export interface MetricsServer {
  /** Base URL; the series are at `${url}/metrics`. */
  url: string
  close(): Promise<void>
}

/** Serves GET /metrics for a scraper; each scrape reads only what the log gained since the last one. */
export async function serveMetrics(opts: {paths: SddPaths; host?: string; port?: number}): Promise<MetricsServer> {
  const host = opts.host ?? '127.0.0.1'
  const reader = new MetricsReader(opts.paths)
  const server: Server = createServer((req, res) => {
    const pathname = (req.url ?? '/').split('?')[0]
    if (pathname !== '/metrics') {
      res.writeHead(404, {'content-type': 'text/plain; charset=utf-8'}).end('Not found: the metrics are at /metrics\n')
      return
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8'}).end('Method not allowed\n')
      return
    }

    reader.exposition().then(
      (body) => {
        res.writeHead(200, {'content-type': reader.metrics.registry.contentType})
        res.end(req.method === 'HEAD' ? undefined : body)
      },
      (error: unknown) => {
        res.writeHead(500, {'content-type': 'text/plain; charset=utf-8'}).end(`Reading the audit log failed: ${(error as Error).message}\n`)
      },
    )
  })
  const port = opts.port ?? 9464
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      reject(
        new PreviewError('METRICS_LISTEN_FAILED', `Cannot serve metrics on ${host}:${port}: ${error.code ?? error.message}.`, {
          hint:
            error.code === 'EADDRINUSE'
              ? 'Another process uses that port: pass --port with a free one.'
              : 'Check --host names an address of this machine.',
        }),
      )
    }

    server.once('error', failed)
    server.listen(port, host, () => {
      server.off('error', failed)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  const shownHost = host.includes(':') ? `[${host}]` : host
  let closed: Promise<void> | null = null
  return {
    close() {
      // Prometheus keeps connections alive between scrapes; drop them or close() waits for their timeout.
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closed
    },
    url: `http://${shownHost}:${bound}`,
  }
}
