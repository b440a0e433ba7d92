// How a PreviewError reaches the user: one place for the oclif commands and the start fast path.
import type {PreviewError} from '../core/errors.js'

/** The text (stderr) or document (stdout, --json) for an error, and the exit code. */
export function renderPreviewError(err: PreviewError, json: boolean): {stdout: string | null; stderr: string | null; exitCode: number} {
  if (json) {
    const doc = {error: {code: err.code, details: err.details, hint: err.hint ?? null, message: err.message}}
    return {exitCode: err.exitCode, stderr: null, stdout: JSON.stringify(doc, null, 2)}
  }

  const lines = [err.message]
  if (err.details.length > 0) lines.push('', ...err.details.map((l) => `  ${l}`))
  if (err.hint) lines.push('', err.hint)
  return {exitCode: err.exitCode, stderr: `Error: ${lines.join('\n')}`, stdout: null}
}
