// Terminal escape codes out of tool output: dev servers and tunnel tools colour what they print.

// CSI (ESC [ ... final, or 8-bit 0x9b), OSC (ESC ] ... BEL or ST), and the two-byte ESC sequences.
const ANSI_RE =
  // eslint-disable-next-line no-control-regex
  /\u001B\[[0-?]*[ -/]*[@-~]|\u009B[0-?]*[ -/]*[@-~]|\u001B\][^\u0007\u001B]*(?:\u0007|\u001B\\)|\u001B[PX^_][^\u001B]*\u001B\\|\u001B[@-Z\\-_78=>c]/g

/** Removes ANSI CSI/OSC escape sequences and applies carriage returns (keeps the text after the last `\r`). */
export function stripAnsi(text: string): string {
  let out = text.includes('\u001B') || text.includes('\u009B') ? text.replace(ANSI_RE, '') : text
  // A CRLF line ending is not an overwrite: drop trailing \r (and \n) before looking for the last \r.
  out = out.replace(/[\r\n]+$/, '')
  const cr = out.lastIndexOf('\r')
  return cr === -1 ? out : out.slice(cr + 1)
}
