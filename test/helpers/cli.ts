// Runs bin/run.js as a real process (the end-to-end layer), with CI set and no TTY.
import {spawn} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export function runCli(args: string[], opts: {cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: {...process.env, CI: 'true', NO_COLOR: '1', PREVIEW_PROBE_TIMEOUT_MS: '0', ...opts.env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`preview ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, opts.timeoutMs ?? 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stderr, stdout})
    })
  })
}

/** Parses stdout as JSON, failing with the whole output when it is not. */
export function json<T = any>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`)
  }
}

export interface StreamingCli {
  /** Everything written to stdout so far. */
  stdout(): string
  stderr(): string
  /** Resolves with the exit code when the process ends by itself (or is killed after `timeoutMs`). */
  exited: Promise<number | null>
  kill(): void
}

/** Starts bin/run.js and returns at once: for streams (`--follow`) read while other commands run. No TTY. */
export function spawnCli(args: string[], opts: {cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number}): StreamingCli {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: {...process.env, CI: 'true', NO_COLOR: '1', PREVIEW_PROBE_TIMEOUT_MS: '0', ...opts.env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })
  return {exited, kill: () => child.kill('SIGKILL'), stderr: () => stderr, stdout: () => stdout}
}

/** The JSON objects of an NDJSON stream (every non-empty line must parse). */
export function ndjson<T = any>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T)
}
