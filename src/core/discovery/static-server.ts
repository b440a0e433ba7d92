// The static-site dev server: `node static-server.js [DIR]` serves DIR (default: the working directory) on
// 127.0.0.1:$PORT (an ephemeral port when PORT is unset) with sirv, and prints one line port capture reads.
//
// Decisions:
// - sirv in dev mode: every request reads the disk, so an edit shows on the next reload (its production mode
//   indexes the tree once at start and would serve stale sizes after an edit).
// - sirv's dev mode does not hide dotfiles, and a preview's directory is a git worktree: `.git`, `.env`, `.sdd`
//   and every other path segment starting with a dot answer 404 here, before sirv, whatever their encoding;
//   only `/.well-known/` passes (as sirv itself allows).
// - sirv follows symlinks: a file or directory linked out of the tree (`docs -> /etc`) answers 404, so a link to
//   the site shows nothing of the machine beyond the directory served.
// - Loopback only, no network beyond the listening socket; SIGTERM and SIGINT close it and exit.
import {existsSync, realpathSync} from 'node:fs'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import sirv from 'sirv'

/** The startup line; port capture reads "listening on http://127.0.0.1:PORT". */
export function startupLine(url: string, root: string): string {
  return `Static site listening on ${url} (files from ${root})`
}

function decoded(pathname: string): string {
  try {
    return decodeURIComponent(pathname)
  } catch {
    return pathname
  }
}

/** Whether a request path names a dot-segment other than `.well-known` (raw or percent-decoded). */
export function isHiddenPath(rawPath: string): boolean {
  const pathname = rawPath.split(/[?#]/, 1)[0] ?? ''
  return [pathname, decoded(pathname)].some((p) => p.split(/[/\\]/).some((seg) => seg.startsWith('.') && seg !== '.well-known'))
}

/** The files sirv would try for a path (as is, .html, .htm, index.html, index.htm). */
function lookups(pathname: string): string[] {
  const base = pathname.replace(/\/+$/, '')
  return [pathname, `${base}.html`, `${base}.htm`, `${base}/index.html`, `${base}/index.htm`]
}

/** Whether any file sirv could serve for this path resolves (through symlinks) outside `realRoot`. */
export function escapesRoot(realRoot: string, rawPath: string): boolean {
  const pathname = decoded(rawPath.split(/[?#]/, 1)[0] ?? '/')
  for (const candidate of lookups(pathname)) {
    const abs = path.join(realRoot, candidate)
    if (!existsSync(abs)) continue
    let real: string
    try {
      real = realpathSync(abs)
    } catch {
      return true
    }

    if (real !== realRoot && !real.startsWith(realRoot + path.sep)) return true
  }

  return false
}

/** Serves `root` on 127.0.0.1:`port`; resolves with the URL once listening. */
export function serveStatic(root: string, port: number): Promise<{url: string; close: () => Promise<void>}> {
  const realRoot = realpathSync(root)
  const files = sirv(realRoot, {dev: true, etag: true})
  const notFound = (res: ServerResponse) => {
    res.statusCode = 404
    res.setHeader('content-type', 'text/plain; charset=utf-8')
    res.end('Not found\n')
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (isHiddenPath(req.url ?? '/') || escapesRoot(realRoot, req.url ?? '/')) return notFound(res)
    files(req, res, () => notFound(res))
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      const actual = typeof address === 'object' && address ? address.port : port
      resolve({
        close: () =>
          new Promise((done) => {
            server.close(() => done())
            server.closeAllConnections() // keep-alive sockets would hold close() open
          }),
        url: `http://127.0.0.1:${actual}`,
      })
    })
  })
}

async function main(): Promise<void> {
  const root = path.resolve(process.argv[2] ?? '.')
  const raw = process.env.PORT ?? '0'
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    process.stderr.write(`static-server: PORT must be a port number, not "${raw}"\n`)
    process.exitCode = 2
    return
  }

  const {close, url} = await serveStatic(root, port)
  process.stdout.write(startupLine(url, root) + '\n')
  const stop = () => void close().then(() => process.exit(0))
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

// Run as a script (not when imported by tests).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`static-server: ${(error as Error).message}\n`)
    process.exitCode = 1
  })
}
