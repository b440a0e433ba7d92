// Runs an oclif command inside the test process (the middle test layer), capturing stdout/stderr.
import {format} from 'node:util'
import {Config} from '@oclif/core'
import {ROOT} from './cli.js'

let config: Config | undefined

export async function runInProcess(
  argv: string[],
  cwd: string,
): Promise<{stdout: string; stderr: string; error?: Error & {oclif?: {exit?: number}}}> {
  config ??= await Config.load(ROOT)
  const out: string[] = []
  const err: string[] = []
  const origOut = process.stdout.write.bind(process.stdout)
  const origErr = process.stderr.write.bind(process.stderr)
  const origCwd = process.cwd()
  process.stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof process.stderr.write
  // oclif writes through console.log/console.error (which vitest wraps), so capture those too.
  const origLog = console.log
  const origError = console.error
  console.log = (...args: unknown[]) => void out.push(format(...args) + '\n')
  console.error = (...args: unknown[]) => void err.push(format(...args) + '\n')
  process.chdir(cwd)
  try {
    const [id, ...rest] = argv
    await config.runCommand(id!, rest)
    return {stderr: err.join(''), stdout: out.join('')}
  } catch (error) {
    return {error: error as Error, stderr: err.join(''), stdout: out.join('')}
  } finally {
    process.stdout.write = origOut
    process.stderr.write = origErr
    console.log = origLog
    console.error = origError
    process.chdir(origCwd)
  }
}
