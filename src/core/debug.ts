// Debug logs on stderr, off unless DEBUG=preview:* (or a namespace such as preview:process) is set.
import createDebug from 'debug'

/** A debug logger for one part of the tool, e.g. debugFor('process') logs as preview:process. */
export function debugFor(part: string): createDebug.Debugger {
  return createDebug(`preview:${part}`)
}
