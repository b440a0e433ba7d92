// The CLI's one way out (STYLE 4): results on stdout, so `preview list --json | jq` always works; progress,
// warnings, notes and errors on stderr. Lines go through console.log/console.error, as oclif's this.log does:
// the same bytes, and console ignores EPIPE (`preview list | head -1`) where a bare stream write would throw.

/** A result line on stdout. */
export function result(line = ''): void {
  console.log(line)
}

/** Result text as it comes (a followed log), no newline added. */
export function resultText(text: string): void {
  process.stdout.write(text)
}

/** The one JSON document of a `--json` run, indented (oclif's own logJson colorizes it: ~100 ms for 1,000 rows). */
export function resultJson(doc: unknown): void {
  console.log(JSON.stringify(doc, null, 2))
}

/** One JSON object a line (streams: `logs --follow --json`, `events --json`, `requests --json`). */
export function resultJsonLine(doc: unknown): void {
  process.stdout.write(`${JSON.stringify(doc)}\n`)
}

/** A note for the person at the terminal (progress, warnings, "press Ctrl-C"): stderr, in every mode. */
export function note(line = ''): void {
  console.error(line)
}

/** Note text as it is (the progress line redraws itself with \r), no newline added. */
export function noteText(text: string): void {
  process.stderr.write(text)
}

/** An error rendered by render-error.ts: its JSON envelope on stdout, its human text on stderr. */
export function printRendered(rendered: {stdout: string | null; stderr: string | null}): void {
  if (rendered.stdout !== null) result(rendered.stdout)
  if (rendered.stderr !== null) note(rendered.stderr)
}

/** How a command body talks: human result lines, silent with --json (the JSON document is the result). */
export interface HumanIo {
  json: boolean
  log(line: string): void
}

export function humanIo(json: boolean): HumanIo {
  return {json, log: json ? () => {} : (line) => result(line)}
}
