// Shared bits for the tunnel tests: fixtures, a PATH with the fakes first, a tiny origin server, process checks.
import {mkdtempSync, readFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {groupMembers, isAlive} from '../../src/core/process.js'
import {splitLines} from '../../src/core/tunnels/util.js'

const here = path.dirname(fileURLToPath(import.meta.url))
export const FAKES_BIN = path.resolve(here, 'bin')
export const FIXTURES = path.resolve(here, '../fixtures/tunnels')

/** Lines of a captured transcript, without the `#` provenance comments at its top. */
export function fixture(name: string): string[] {
  return splitLines(readFileSync(path.join(FIXTURES, name), 'utf8')).filter((l) => !l.startsWith('#'))
}

/** A PATH holding node and (optionally) the fakes, and nothing else: real tunnel tools stay invisible. */
export function testPath(withFakes: boolean): string {
  const nodeDir = path.dirname(process.execPath)
  return [withFakes ? FAKES_BIN : null, nodeDir].filter(Boolean).join(path.delimiter)
}

export function tmp(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix))
}

/** A loopback HTTP server standing in for the gateway. */
export async function origin(body = 'hello from origin'): Promise<{server: Server; port: number; url: string}> {
  const server = createServer((req, res) => {
    res.writeHead(200, {'content-type': 'text/plain'})
    res.end(`${body} ${req.url}`)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as {port: number}).port
  return {port, server, url: `http://127.0.0.1:${port}`}
}

/** True when neither the leader nor any member of its process group is alive. */
export function groupGone(pid: number | null | undefined): boolean {
  if (!pid) return true
  return !isAlive(pid) && groupMembers(pid).length === 0
}

/** Waits (bounded) for a condition. */
export async function until(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (cond()) return true
    await new Promise((r) => setTimeout(r, 25))
  }

  return cond()
}
