// Shared plumbing for tunnel drivers: clean lines, binary lookup, and one supervised helper process.
import {accessSync, constants as fsConstants, statSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import type {ChildProcess} from 'node:child_process'
import {stripAnsi} from '../ansi.js'
import {TunnelFailed, type TunnelFailureReason} from '../errors.js'
import type {ProviderName} from './types.js'
import {killGroup, spawnGroup} from '../process.js'
import type {TunnelHandle} from './types.js'

/** Splits a captured transcript into clean lines (fixtures, tests); `#` comment lines are kept. */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n|\r/).map((l) => stripAnsi(l))
}

/** Turns a byte stream into clean lines; a carriage return also ends a line (progress redraws). */
export function onLines(stream: NodeJS.ReadableStream | null | undefined, cb: (line: string) => void): () => void {
  if (!stream) return () => {}
  let buffer = ''
  const onData = (chunk: Buffer | string) => {
    buffer += chunk.toString()
    const parts = buffer.split(/\r?\n|\r/)
    buffer = parts.pop() ?? ''
    // A runaway line without a newline must not grow without bound.
    if (buffer.length > 64 * 1024) buffer = buffer.slice(-64 * 1024)
    for (const part of parts) cb(stripAnsi(part))
  }

  stream.on('data', onData)
  return () => {
    stream.off('data', onData)
    if (buffer) cb(stripAnsi(buffer))
    buffer = ''
  }
}

function isExecutableFile(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false
    accessSync(file, fsConstants.X_OK)
    return true
  } catch {
    return false
  }
}

export type BinaryLookup = {ok: true; path: string; source: 'env' | 'path' | 'package'} | {ok: false; hint: string}

/**
 * Finds a tool: the env var (e.g. CLOUDFLARED_BIN) first, then PATH from the given env, then fallbacks
 * (a package's own copy). A set env var that points nowhere is an error, not a silent fallback.
 */
export function findBinary(
  name: string,
  envVar: string,
  env: NodeJS.ProcessEnv,
  installHint: string,
  fallbacks: string[] = [],
): BinaryLookup {
  const fromEnv = env[envVar]
  if (fromEnv) {
    if (isExecutableFile(fromEnv)) return {ok: true, path: fromEnv, source: 'env'}
    return {hint: `${envVar}=${fromEnv} is not an executable file; fix or unset it (${installHint})`, ok: false}
  }

  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    const candidate = path.join(dir, name)
    if (isExecutableFile(candidate)) return {ok: true, path: candidate, source: 'path'}
  }

  for (const candidate of fallbacks) {
    if (isExecutableFile(candidate)) return {ok: true, path: candidate, source: 'package'}
  }

  return {hint: `${name} not found on PATH or in ${envVar}; ${installHint}`, ok: false}
}

/** Where an npm package keeps a file, or null when the package is not installed. */
export function packageFile(pkg: string, rel: string): string | null {
  try {
    const require = createRequire(import.meta.url)
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), rel)
  } catch {
    return null
  }
}

/** What a driver's parser concluded from the lines so far. */
export type Verdict =
  | {kind: 'ready'; url: string; name?: string | null}
  /** A usable URL, but a better one may still come: resolve after `settleMs` unless `ready` arrives. */
  | {kind: 'provisional'; url: string; name?: string | null; settleMs: number}
  | {kind: 'fail'; reason: TunnelFailureReason; message: string; hint?: string}
  | null

export interface ProcessTunnelSpec {
  provider: ProviderName
  file: string
  args: string[]
  env: NodeJS.ProcessEnv
  cwd?: string
  timeoutMs: number
  /** Grace between SIGTERM and SIGKILL at close. */
  graceMs?: number
  /** Keep stdin open (some ssh services end the session on EOF). */
  keepStdin?: boolean
  signal?: AbortSignal
  log?: (line: string) => void
  /** Feeds one clean line; returns what it means for start-up. Called after ready too (return ignored). */
  onLine(line: string, stream: 'stdout' | 'stderr'): Verdict
  /** The message used when the process exits or times out with no verdict (gets the last lines). */
  describeFailure?(kind: 'exited' | 'timeout', lastLines: string[], exit: string): {message: string; hint?: string}
  /** Undo provider-side state after the process is gone (tailscale funnel off). Errors are logged, not thrown. */
  afterClose?(): Promise<void>
  /** Hint shown for a failure at start when the parser gave none. */
  hint?: string
}

const TAIL = 20

function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `killed by ${signal}`
  return `exit code ${code ?? '?'}`
}

/**
 * Runs a tunnel tool as a process group leader, reads its lines through the driver's parser, and
 * resolves with a handle once the parser says ready; rejects with TunnelFailed (the tool's own reason)
 * on exit, failure line, timeout or abort, leaving no process behind.
 */
export async function openProcessTunnel(spec: ProcessTunnelSpec): Promise<TunnelHandle> {
  const child: ChildProcess = spawnGroup(spec.file, spec.args, {
    cwd: spec.cwd ?? process.cwd(),
    env: spec.env,
    stdio: [spec.keepStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  })
  const pid = child.pid ?? null
  const tail: string[] = []
  const exitCbs: Array<(reason: string) => void> = []
  let exited: {code: number | null; signal: NodeJS.Signals | null} | null = null
  let opened = false
  let closing: Promise<void> | null = null
  let exitReported = false
  let exitReason: string | null = null
  let stopOut: () => void = () => {}
  let stopErr: () => void = () => {}

  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = {code, signal}
      resolve()
    })
    child.once('error', () => resolve())
  })

  const close = async (): Promise<void> => {
    if (closing) return closing
    closing = (async () => {
      if (pid) await killGroup(pid, {graceMs: spec.graceMs ?? 3000})
      // Wait (bounded) for node to see the exit, so no zombie stays behind and stdio is drained.
      await Promise.race([exitPromise, new Promise((r) => setTimeout(r, 2000).unref())])
      stopOut()
      stopErr()
      child.stdin?.destroy()
      if (spec.afterClose) {
        try {
          await spec.afterClose()
        } catch (error) {
          spec.log?.(`[${spec.provider}] cleanup: ${(error as Error).message}`)
        }
      }
    })()
    return closing
  }

  return new Promise<TunnelHandle>((resolve, reject) => {
    let settleTimer: NodeJS.Timeout | null = null
    let provisional: {url: string; name?: string | null} | null = null
    let done = false

    const handle = (url: string, name?: string | null): TunnelHandle => ({
      close,
      name: name ?? null,
      onExit(cb) {
        // A late subscriber still hears about a death that already happened.
        if (exitReason !== null) queueMicrotask(() => cb(exitReason!))
        else exitCbs.push(cb)
      },
      pid,
      publicUrl: url,
    })

    const finishOk = (url: string, name?: string | null) => {
      if (done) return
      done = true
      opened = true
      cleanupStart()
      resolve(handle(url, name))
    }

    const finishFail = (reason: TunnelFailureReason, message: string, hint?: string) => {
      if (done) return
      done = true
      cleanupStart()
      void close().then(() => reject(new TunnelFailed(spec.provider, reason, message, hint ?? spec.hint, tail.slice(-TAIL))))
    }

    const feed = (stream: 'stdout' | 'stderr') => (line: string) => {
      if (line.trim() !== '') {
        tail.push(line)
        if (tail.length > TAIL * 5) tail.splice(0, tail.length - TAIL)
        spec.log?.(`[${spec.provider}] ${line}`)
      }

      const verdict = spec.onLine(line, stream)
      if (done || !verdict) return
      if (verdict.kind === 'ready') finishOk(verdict.url, verdict.name)
      else if (verdict.kind === 'fail') finishFail(verdict.reason, verdict.message, verdict.hint)
      else {
        // The settle window starts at the first provisional URL; later lines may still improve it.
        if (!provisional) settleTimer = setTimeout(() => finishOk(provisional!.url, provisional!.name), verdict.settleMs)
        provisional = {name: verdict.name ?? null, url: verdict.url}
      }
    }

    stopOut = onLines(child.stdout, feed('stdout'))
    stopErr = onLines(child.stderr, feed('stderr'))

    const timer = setTimeout(() => {
      const described = spec.describeFailure?.('timeout', tail.slice(-TAIL), 'still running')
      finishFail(
        'timeout',
        described?.message ?? `${spec.provider} gave no public URL within ${Math.round(spec.timeoutMs / 1000)}s.`,
        described?.hint,
      )
    }, spec.timeoutMs)

    const onAbort = () => finishFail('error', `${spec.provider} start-up was cancelled.`)
    spec.signal?.addEventListener('abort', onAbort, {once: true})
    if (spec.signal?.aborted) onAbort()

    child.once('error', (error) => {
      finishFail('binary-missing', `${spec.provider} could not be started (${spec.file}): ${error.message}`)
    })

    const stdioClosed = new Promise<void>((r) => child.once('close', () => r()))
    void exitPromise.then(() => {
      // Let the last buffered lines reach the parser first (a failure line beats "exited"); a grandchild
      // holding the pipes open must not stall this, hence the bound.
      void Promise.race([stdioClosed, new Promise((r) => setTimeout(r, 200))]).then(() => {
        if (!exited) return
        const how = exitText(exited.code, exited.signal)
        if (!done) {
          const last = tail.filter((l) => l.trim() !== '').slice(-3)
          const described = spec.describeFailure?.('exited', tail.slice(-TAIL), how)
          finishFail(
            'exited',
            described?.message ??
              `${spec.provider} exited (${how}) before giving a public URL${last.length > 0 ? `: ${last.join(' | ')}` : '.'}`,
            described?.hint,
          )
          return
        }

        if (opened && !closing && !exitReported) {
          exitReported = true
          const last = tail.filter((l) => l.trim() !== '').at(-1)
          const reason = `${spec.provider} exited (${how})${last ? `: ${last}` : ''}`
          exitReason = reason
          for (const cb of exitCbs.splice(0)) cb(reason)
          // Reap anything the tool left in its group.
          void close()
        }
      })
    })

    function cleanupStart() {
      clearTimeout(timer)
      if (settleTimer) clearTimeout(settleTimer)
      spec.signal?.removeEventListener('abort', onAbort)
    }
  })
}
