// Real edges for the tests: Debian's caddy and nginx started on loopback ports in temp dirs, and clients that
// reach a preview through them by host name (Host header), as a browser on the preview's domain would.
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import {ROOT} from './cli.js'
import {portOpen, waitFor} from './proc.js'

export const WS_ECHO = path.join(ROOT, 'test', 'fixtures', 'edge', 'ws-echo.cjs')

/** A free loopback port (bound then released: the edge binds it right after). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const {port} = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

export interface Caddy {
  adminUrl: string
  httpPort: number
  dir: string
  /** The admin API, JSON in and out. */
  api(method: string, pathname: string, body?: unknown): Promise<{status: number; json: any}>
  /** Stops Caddy and starts it again from the same file: an empty edge (the routes added since are gone). */
  restart(): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts `caddy run` with a JSON config: admin API and one HTTP server ("edge") on loopback ports, automatic
 * HTTPS off, its storage in a temp dir. `extra` merges more into the server (e.g. a catch-all route).
 */
export async function startCaddy(opts: {server?: Record<string, unknown>; admin?: Record<string, unknown>} = {}): Promise<Caddy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-caddy-'))
  const adminPort = await freePort()
  const httpPort = await freePort()
  const config = {
    admin: {listen: `127.0.0.1:${adminPort}`, ...opts.admin},
    apps: {http: {servers: {edge: {automatic_https: {disable: true}, listen: [`127.0.0.1:${httpPort}`], ...opts.server}}}},
    logging: {logs: {default: {level: 'WARN', writer: {filename: path.join(dir, 'caddy.log'), output: 'file'}}}},
  }
  const file = path.join(dir, 'caddy.json')
  writeFileSync(file, JSON.stringify(config, null, 2))
  const env = {...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'config'), XDG_DATA_HOME: path.join(dir, 'data')}
  let child: ChildProcess
  const adminUrl = `http://127.0.0.1:${adminPort}`
  const launch = async () => {
    child = spawn('caddy', ['run', '--config', file], {env, stdio: ['ignore', 'ignore', 'pipe']})
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
    const up = await waitFor(async () => (await portOpen(adminPort)) && (await portOpen(httpPort)), 10_000)
    if (!up) throw new Error(`caddy did not start:\n${stderr}`)
  }

  await launch()
  return {
    adminUrl,
    async api(method, pathname, body) {
      const res = await fetch(`${adminUrl}${pathname}`, {
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? {} : {'content-type': 'application/json'},
        method,
        signal: AbortSignal.timeout(10_000),
      })
      const text = await res.text()
      return {json: text ? JSON.parse(text) : null, status: res.status}
    },
    dir,
    httpPort,
    async restart() {
      await stopChild(child)
      await launch()
    },
    stop: () => stopChild(child),
  }
}

export interface Nginx {
  port: number
  dir: string
  stop(): Promise<void>
}

/**
 * Runs Debian's nginx in the foreground (`daemon off`) with its own prefix, pid, logs and temp paths in a temp
 * dir; `httpBlock` is the http-context config to test (its `listen` lines are pointed at a loopback port).
 */
export async function startNginx(httpBlock: string): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-nginx-'))
  mkdirSync(path.join(dir, 'logs'))
  const port = await freePort()
  const server = httpBlock.replaceAll(/^(\s*)listen\s+[^;]+;/gm, `$1listen 127.0.0.1:${port};`)
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n')
  const conf = `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log ${dir}/logs/access.log;
${temp}
${server}
}
`
  writeFileSync(path.join(dir, 'nginx.conf'), conf)
  const child = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;'], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const up = await waitFor(() => portOpen(port), 10_000)
  if (!up) {
    await stopChild(child)
    const log = path.join(dir, 'logs', 'error.log')
    throw new Error(`nginx did not start:\n${stderr}\n${existsSync(log) ? readFileSync(log, 'utf8') : ''}`)
  }

  return {dir, port, stop: () => stopChild(child)}
}

/** The first fenced block after a heading in a docs page (the tests run the config the docs give). */
export function docsBlock(file: string, heading: string): string {
  const text = readFileSync(path.join(ROOT, file), 'utf8')
  const at = text.indexOf(heading)
  if (at < 0) throw new Error(`${file} has no "${heading}"`)
  const block = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at))
  if (!block) throw new Error(`${file}: no code block after "${heading}"`)
  return block[1]!
}

export interface EdgeResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** One HTTP request to 127.0.0.1:port with the Host header of a public name (no DNS needed). */
export function viaEdge(port: number, url: string, headers: Record<string, string> = {}): Promise<EdgeResponse> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = http.request(
      {headers: {host: u.host, ...headers}, host: '127.0.0.1', method: 'GET', path: `${u.pathname}${u.search}`, port, timeout: 10_000},
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => resolve({body, headers: res.headers, status: res.statusCode ?? 0}))
      },
    )
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${url} via 127.0.0.1:${port}`)))
    req.on('error', reject)
    req.end()
  })
}

/** The token of a share URL (`?token=`). */
export function tokenOf(shareUrl: string): string {
  const token = new URL(shareUrl).searchParams.get('token')
  if (!token) throw new Error(`no token in ${shareUrl}`)
  return token
}

/**
 * Follows a share link as a browser would: the token visit sets the session cookie and redirects; the
 * cookie then gets the page. Returns both answers.
 */
export async function visitLink(port: number, shareUrl: string): Promise<{first: EdgeResponse; page: EdgeResponse; cookie: string}> {
  const first = await viaEdge(port, shareUrl)
  const cookie = (first.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]).join('; ')
  const target = first.headers.location ? new URL(first.headers.location, shareUrl).toString() : shareUrl
  const page = await viaEdge(port, target, {cookie})
  return {cookie, first, page}
}

/** Opens a WebSocket to the preview through the edge (Host header set), sends one message, resolves with the echo. */
export async function wsEchoViaEdge(port: number, url: string, headers: Record<string, string>, message = 'ping'): Promise<string> {
  const {default: WebSocket} = await import('ws')
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}${u.pathname === '/' ? '/ws' : u.pathname}`, {headers: {...headers, host: u.host}})
    const timer = setTimeout(() => {
      socket.terminate()
      reject(new Error(`no echo through the edge for ${url}`))
    }, 10_000)
    socket.once('open', () => socket.send(message))
    socket.once('message', (data) => {
      clearTimeout(timer)
      socket.close()
      resolve(String(data))
    })
    socket.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.once('unexpected-response', (_req, res) => {
      clearTimeout(timer)
      reject(new Error(`WebSocket refused through the edge: HTTP ${res.statusCode}`))
    })
  })
}

/** Writes `.sdd/preview.yaml` (as YAML-compatible JSON) in an sdd dir. */
export function writeConfig(sddDir: string, config: Record<string, unknown>): void {
  mkdirSync(sddDir, {recursive: true})
  writeFileSync(path.join(sddDir, 'preview.yaml'), JSON.stringify(config, null, 2))
}

/** A Caddyfile as Caddy's JSON (`caddy adapt`), to start a test Caddy from the docs' own site blocks. */
export function adaptCaddyfile(text: string): any {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'preview-caddyfile-'))
  const file = path.join(dir, 'Caddyfile')
  writeFileSync(file, text)
  const out = execFileSync('caddy', ['adapt', '--config', file, '--adapter', 'caddyfile'], {
    encoding: 'utf8',
    env: {...process.env, HOME: dir},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return JSON.parse(out)
}
