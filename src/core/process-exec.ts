// Commands run to completion (run()) and tunnel tools spawned through execa: the part of the process module that
// execa serves. Where execa is used, where not, and why: the top of process.ts (which re-exports all of this).
import {execFile} from 'node:child_process'
import type {Readable} from 'node:stream'
import type {ResultPromise} from 'execa'
import {debugFor} from './debug.js'

const debug = debugFor('process')

type ExecaModule = typeof import('execa')
let execaModule: ExecaModule | null = null
let execaLoading: Promise<ExecaModule> | null = null

/** Loads execa once per process; run() goes through it from then on (where that is: the top of process.ts). */
export function loadExeca(): Promise<ExecaModule> {
  execaLoading ??= import('execa').then((m) => (execaModule = m))
  return execaLoading
}

/** Starts loading execa in the background (a process that will need it, off its critical path). */
export function preloadExeca(): void {
  loadExeca().catch((error: unknown) => debug('execa did not load: %s', (error as Error).message))
}

/** Whether run() goes through execa in this process (it does once loadExeca() has resolved). */
export function execaLoaded(): boolean {
  return execaModule !== null
}

/** A tool spawned by spawnExecaGroup: a ChildProcess ('exit', 'error', stdio) and a promise of execa's result. */
export type ExecaGroupChild = ResultPromise<{
  buffer: false
  detached: true
  reject: false
  stderr: 'pipe'
  stdin: 'pipe' | 'ignore'
  stdout: 'pipe'
}>

/**
 * Runs a binary through execa as the leader of a new process group, its output left to the caller (not buffered).
 * The subprocess never rejects; its result settles once the process has exited and its stdio has closed. The env
 * is exactly `opts.env`. Wrapped in an object: a thenable returned from an async function would be awaited (until
 * the process ends).
 */
export async function spawnExecaGroup(
  file: string,
  args: string[],
  opts: {cwd: string; env: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore'},
): Promise<{child: ExecaGroupChild}> {
  const {execa} = await loadExeca()
  debug('spawn group (execa): %s %o in %s', file, args, opts.cwd)
  const child = execa(file, args, {
    buffer: false,
    cwd: opts.cwd,
    detached: true,
    env: opts.env,
    extendEnv: false,
    reject: false,
    stderr: 'pipe',
    stdin: opts.stdin ?? 'ignore',
    stdout: 'pipe',
  })
  return {child}
}

export interface RunResult {
  /** The exit code; 124 when it timed out, 127 when it could not start, was killed by a signal or wrote past 64 MiB. */
  exitCode: number
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface RunOptions {
  cwd: string
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
  input?: string
}

const RUN_MAX_BUFFER = 64 * 1024 * 1024

/**
 * Runs a short command to completion (git, package managers, tool CLIs); never throws on non-zero exit. The env
 * is exactly `opts.env` (process.env when absent), one trailing newline is cut from each output, and a command
 * still running after `timeoutMs` is SIGKILLed. Through execa once loaded, else node:child_process (see the top of process.ts).
 */
export function run(file: string, args: string[], opts: RunOptions = {cwd: '.'}): Promise<RunResult> {
  debug('run %s %o in %s (%s)', file, args, opts.cwd, execaModule ? 'execa' : 'child_process')
  return execaModule ? runExeca(execaModule, file, args, opts) : runExecFile(file, args, opts)
}

const trimFinalNewline = (text: unknown) => String(text ?? '').replace(/\n$/, '')

/**
 * Through execa, the output read here rather than by execa (buffer: false): on a failure execa folds the whole
 * output into its error message, which for a failing command with 10 MB of output took 7-18 s and 200-700 MiB,
 * and 64 MiB of NUL bytes aborted node (measured on execa 9.6.1). Past RUN_MAX_BUFFER the command is killed, as
 * execFile does.
 */
async function runExeca(m: ExecaModule, file: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const child = m.execa(file, args, {
    buffer: false,
    // No kill-on-exit hook (execa's default patches process.emit through signal-exit while a command runs): the
    // supervisor and the host handle their own signals, and run() behaves as it does through execFile.
    cleanup: false,
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    extendEnv: false,
    input: opts.input,
    killSignal: 'SIGKILL',
    reject: false,
    timeout: opts.timeoutMs ?? 60_000,
  })
  // execa waits for the stdio to close even after it killed the command, so a grandchild holding the pipes
  // (`sh -c 'sleep 5'`, a credential helper) would hold run() past its timeout. execFile drops the pipes when it
  // kills; so does this. (`killed`: only a kill from here sets it: the timeout or the output cap.)
  child.once('exit', () => {
    if (!child.killed) return
    child.stdout?.destroy()
    child.stderr?.destroy()
  })
  const overflow = () => child.kill('SIGKILL')
  const [res, stdout, stderr] = await Promise.all([child, collect(child.stdout, overflow), collect(child.stderr, overflow)])
  const exitCode = res.timedOut ? 124 : (res.exitCode ?? 127)
  return {exitCode, stderr: trimFinalNewline(stderr), stdout: trimFinalNewline(stdout), timedOut: res.timedOut}
}

/** A stream's text, at most RUN_MAX_BUFFER bytes of it; past that, `onOverflow` once. */
function collect(stream: Readable | null, onOverflow: () => void): Promise<string> {
  return new Promise((resolve) => {
    if (!stream) return resolve('')
    const chunks: Buffer[] = []
    let size = 0
    stream.on('data', (chunk: Buffer) => {
      if (size >= RUN_MAX_BUFFER) return
      chunks.push(chunk.subarray(0, RUN_MAX_BUFFER - size))
      size += chunk.length
      if (size >= RUN_MAX_BUFFER) onOverflow()
    })
    stream.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })
}

function runExecFile(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {cwd: opts.cwd, env: opts.env ?? process.env, killSignal: 'SIGKILL', maxBuffer: RUN_MAX_BUFFER, timeout: opts.timeoutMs ?? 60_000},
      (error, stdout, stderr) => {
        const err = error as (NodeJS.ErrnoException & {code?: number | string; killed?: boolean}) | null
        // execFile also kills (killed: true) on output past maxBuffer: that is not a timeout.
        const timedOut = Boolean(err?.killed) && err?.code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER'
        const exitCode = err ? (typeof err.code === 'number' ? err.code : timedOut ? 124 : 127) : 0
        resolve({exitCode, stderr: trimFinalNewline(stderr), stdout: trimFinalNewline(stdout), timedOut})
      },
    )
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}
