// Debug logs on stderr, off unless DEBUG=preview:* (or a namespace such as preview:process) is set.
// The debug package is only loaded when DEBUG is set: every command pays for whatever it imports at start-up.
import {createRequire} from 'node:module'

export type DebugLog = (formatter: string, ...args: unknown[]) => void

const require = createRequire(import.meta.url)
const noop: DebugLog = () => {}

/** The debug package, when DEBUG is set (null otherwise). */
export function debugPackage(): typeof import('debug') | null {
  return process.env.DEBUG ? (require('debug') as typeof import('debug')) : null
}

/** A debug logger for one part of the tool, e.g. debugFor('process') logs as preview:process. */
export function debugFor(part: string): DebugLog {
  const createDebug = debugPackage()
  return createDebug ? createDebug(`preview:${part}`) : noop
}
