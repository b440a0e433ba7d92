// How a PreviewError reaches the user: one place for the oclif commands and the start fast path.
import type {PreviewError} from '../core/errors.js'

/** The text (stderr) or document (stdout, --json) for an error, and the exit code. */
export function renderPreviewError(err: PreviewError, json: boolean): {stdout: string | null; stderr: string | null; exitCode: number} {
  if (json) {
    const started = err.previewId ? {log_file: err.logFile ?? null, preview_id: err.previewId} : {}
    const doc = {error: {code: err.code, details: err.details, hint: err.hint ?? null, message: err.message, ...started}}
    return {exitCode: err.exitCode, stderr: null, stdout: JSON.stringify(doc, null, 2)}
  }

  const lines = [err.message]
  if (err.details.length > 0) lines.push('', ...err.details.map((l) => `  ${l}`))
  if (err.hint) lines.push('', err.hint)
  // A failed start says which preview it was and where its log is kept (`preview logs <id>` still reads it).
  if (err.previewId) lines.push('', `Preview ${err.previewId} did not start; its log is kept at ${err.logFile ?? '(no log)'} (\`preview logs ${err.previewId}\`).`)
  return {exitCode: err.exitCode, stderr: `Error: ${lines.join('\n')}`, stdout: null}
}
