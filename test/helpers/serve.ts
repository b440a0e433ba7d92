// `preview serve` as a real process on a free port, and requests to it with the Host header a browser would send.
import {spawn, type ChildProcess} from 'node:child_process'
import http from 'node:http'
import {BIN} from './cli.js'

export interface ServeProcess {
  port: number
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** SIGTERM, then waits (bounded) for the process to exit; resolves with its exit code. */
  stop(): Promise<number | null>
}

export function startServe(args: string[], opts: {cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], {
    cwd: opts.cwd,
    env: {...process.env, CI: 'true', NO_COLOR: '1', ...opts.env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const stop = async () => {
    if (child.exitCode !== null) return child.exitCode
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`preview serve did not start\nstdout: ${out}\nstderr: ${err}`))
    }, opts.timeoutMs ?? 20_000)
    const check = () => {
      const m = /Serving on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.stdout!.off('data', check)
      resolve({child, port: Number(m[1]), stderr: () => err, stdout: () => out, stop})
    }

    child.stdout!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`preview serve exited (${code})\nstdout: ${out}\nstderr: ${err}`))
    })
  })
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  ms: number
}

/** One request to 127.0.0.1:port with the given Host (a new connection each time). */
export function request(
  port: number,
  host: string,
  path = '/',
  opts: {method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number} = {},
): Promise<Reply> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const req = http.request(
      {agent: false, headers: {host, ...opts.headers}, host: '127.0.0.1', method: opts.method ?? 'GET', path, port},
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => resolve({body, headers: res.headers, ms: Date.now() - started, status: res.statusCode ?? 0}))
      },
    )
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`request to ${host}${path} timed out`)))
    req.on('error', reject)
    req.end(opts.body)
  })
}
