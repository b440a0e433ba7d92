// Shared plumbing for tunnel drivers: clean lines, binary lookup, and one supervised helper process.
import {accessSync, constants as fsConstants, statSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {StringDecoder} from 'node:string_decoder'
import {stripAnsi} from '../ansi.js'
import {LineSplitter} from '../lines.js'
import {TunnelFailed, type TunnelFailureReason} from '../errors.js'
import type {ProviderName} from './types.js'
import {killGroup, spawnExecaGroup, type ExecaGroupChild} from '../process.js'
import type {TunnelHandle} from './types.js'

/** Splits a captured transcript into clean lines (fixtures, tests); `#` comment lines are kept. */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n|\r/).map((l) => stripAnsi(l))
}

/** Turns a byte stream into clean lines; a carriage return also ends a line (progress redraws). */
export function onLines(stream: NodeJS.ReadableStream | null | undefined, cb: (line: string) => void): () => void {
  if (!stream) return () => {}
  // One decoder for the whole stream: a character whose bytes arrive in two chunks comes out whole.
  const decoder = new StringDecoder('utf8')
  const lines = new LineSplitter({crEndsLine: true, maxLine: 64 * 1024})
  const onData = (chunk: Buffer | string) => {
    for (const line of lines.push(typeof chunk === 'string' ? chunk : decoder.write(chunk))) cb(stripAnsi(line))
  }

  stream.on('data', onData)
  return () => {
    stream.off('data', onData)
    const rest = lines.push(decoder.end())
    for (const line of rest) cb(stripAnsi(line))
    const last = lines.end()
    if (last) cb(stripAnsi(last))
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

/** One running tunnel tool: its process group, its last lines, how it ended, and its one close(). */
class ToolProcess {
  readonly pid: number | null
  readonly tail: string[] = []
  exited: {code: number | null; signal: NodeJS.Signals | null} | null = null
  /** Resolves on exit, or on a spawn error (then `exited` stays null). */
  readonly exit: Promise<void>
  /** Set once the start-up resolved with a handle: a later exit is a death to report. */
  opened = false
  private closing: Promise<void> | null = null
  private exitReason: string | null = null
  private readonly exitCbs: Array<(reason: string) => void> = []
  private readonly stopReading: Array<() => void> = []

  constructor(
    readonly spec: ProcessTunnelSpec,
    readonly child: ExecaGroupChild,
  ) {
    this.pid = child.pid ?? null
    this.exit = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = {code, signal}
        resolve()
      })
      child.once('error', () => resolve())
    })
  }

  /** Feeds every clean line of stdout and stderr to `cb`, after keeping it in the tail and the log. */
  read(cb: (line: string, stream: 'stdout' | 'stderr') => void): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      this.stopReading.push(
        onLines(this.child[stream], (line) => {
          if (line.trim() !== '') {
            this.tail.push(line)
            if (this.tail.length > TAIL * 5) this.tail.splice(0, this.tail.length - TAIL)
            this.spec.log?.(`[${this.spec.provider}] ${line}`)
          }

          cb(line, stream)
        }),
      )
    }
  }

  lastLines(n: number): string[] {
    return this.tail.filter((l) => l.trim() !== '').slice(-n)
  }

  /**
   * Once the tool has exited: lets its last buffered lines reach the parser first (a failure line beats
   * "exited"), then calls `cb` with how it ended. execa's result settles when the stdio has closed too; a
   * grandchild holding the pipes open must not stall this, hence the bound. Not called after a spawn error.
   */
  onExit(cb: (how: string) => void): void {
    void this.exit.then(async () => {
      await Promise.race([this.child.then(() => undefined), new Promise((r) => setTimeout(r, 200))])
      if (this.exited) cb(exitText(this.exited.code, this.exited.signal))
    })
  }

  /** Ends the tool's whole group (once), waits for node to see the exit, then undoes provider-side state. */
  readonly close = (): Promise<void> => {
    this.closing ??= (async () => {
      if (this.pid) await killGroup(this.pid, {graceMs: this.spec.graceMs ?? 3000})
      // Wait (bounded) for node to see the exit, so no zombie stays behind and stdio is drained.
      await Promise.race([this.exit, new Promise((r) => setTimeout(r, 2000).unref())])
      for (const stop of this.stopReading.splice(0)) stop()
      this.child.stdin?.destroy()
      if (this.spec.afterClose) {
        try {
          await this.spec.afterClose()
        } catch (error) {
          this.spec.log?.(`[${this.spec.provider}] cleanup: ${(error as Error).message}`)
        }
      }
    })()
    return this.closing
  }

  handle(url: string, name?: string | null): TunnelHandle {
    return {
      close: this.close,
      name: name ?? null,
      onExit: (cb) => {
        // A late subscriber still hears about a death that already happened.
        if (this.exitReason !== null) queueMicrotask(() => cb(this.exitReason!))
        else this.exitCbs.push(cb)
      },
      pid: this.pid,
      publicUrl: url,
    }
  }

  /** The tool died on its own after giving its URL: tell the subscribers once, then reap what it left in its group. */
  died(how: string): void {
    if (!this.opened || this.closing || this.exitReason !== null) return
    const last = this.lastLines(1)[0]
    this.exitReason = `${this.spec.provider} exited (${how})${last ? `: ${last}` : ''}`
    for (const cb of this.exitCbs.splice(0)) cb(this.exitReason)
    void this.close()
  }
}

/**
 * The start-up of a tool: its lines go to the driver's parser until it says ready or fail; an exit, the timeout
 * or the abort signal before that fails it. Resolves with the handle; rejects with TunnelFailed once the tool's
 * group is gone.
 */
function startUp(tool: ToolProcess): Promise<TunnelHandle> {
  const {spec} = tool
  return new Promise<TunnelHandle>((resolve, reject) => {
    let settleTimer: NodeJS.Timeout | null = null
    let provisional: {url: string; name?: string | null} | null = null
    let done = false
    const finish = () => {
      done = true
      clearTimeout(timer)
      if (settleTimer) clearTimeout(settleTimer)
      spec.signal?.removeEventListener('abort', onAbort)
    }

    const finishOk = (url: string, name?: string | null) => {
      if (done) return
      finish()
      tool.opened = true
      resolve(tool.handle(url, name))
    }

    const finishFail = (reason: TunnelFailureReason, message: string, hint?: string) => {
      if (done) return
      finish()
      void tool.close().then(() => reject(new TunnelFailed(spec.provider, reason, message, hint ?? spec.hint, tool.tail.slice(-TAIL))))
    }

    tool.read((line, stream) => {
      const verdict = spec.onLine(line, stream)
      if (done || !verdict) return
      if (verdict.kind === 'ready') finishOk(verdict.url, verdict.name)
      else if (verdict.kind === 'fail') finishFail(verdict.reason, verdict.message, verdict.hint)
      else {
        // The settle window starts at the first provisional URL; later lines may still improve it.
        if (!provisional) settleTimer = setTimeout(() => finishOk(provisional!.url, provisional!.name), verdict.settleMs)
        provisional = {name: verdict.name ?? null, url: verdict.url}
      }
    })

    const timer = setTimeout(() => {
      const described = spec.describeFailure?.('timeout', tool.tail.slice(-TAIL), 'still running')
      finishFail(
        'timeout',
        described?.message ?? `${spec.provider} gave no public URL within ${Math.round(spec.timeoutMs / 1000)}s.`,
        described?.hint,
      )
    }, spec.timeoutMs)

    const onAbort = () => finishFail('error', `${spec.provider} start-up was cancelled.`)
    spec.signal?.addEventListener('abort', onAbort, {once: true})
    if (spec.signal?.aborted) onAbort()

    tool.child.once('error', (error) => {
      finishFail('binary-missing', `${spec.provider} could not be started (${spec.file}): ${error.message}`)
    })

    tool.onExit((how) => {
      if (done) return tool.died(how)
      const last = tool.lastLines(3)
      const described = spec.describeFailure?.('exited', tool.tail.slice(-TAIL), how)
      finishFail(
        'exited',
        described?.message ??
          `${spec.provider} exited (${how}) before giving a public URL${last.length > 0 ? `: ${last.join(' | ')}` : '.'}`,
        described?.hint,
      )
    })
  })
}

/**
 * Runs a tunnel tool as a process group leader (through execa: loaded in the supervisor while the dev server
 * booted), reads its lines through the driver's parser, and resolves with a handle once the parser says ready;
 * rejects with TunnelFailed (the tool's own reason) on exit, failure line, timeout or abort, leaving no process
 * behind.
 */
export async function openProcessTunnel(spec: ProcessTunnelSpec): Promise<TunnelHandle> {
  const {child} = await spawnExecaGroup(spec.file, spec.args, {
    cwd: spec.cwd ?? process.cwd(),
    env: spec.env,
    stdin: spec.keepStdin ? 'pipe' : 'ignore',
  })
  return startUp(new ToolProcess(spec, child))
}
