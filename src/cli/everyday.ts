// list, status, stop, logs and share: their flags and their bodies, once. The oclif commands (src/commands/) and the fast path
// (bin/run.js -> fast-commands.ts, which answers plain invocations without loading oclif: ~150 ms of module loading,
// more than these commands' own work) both call these, so the two cannot drift apart.
// list, the one that reads every row, loads only what it needs (locate, list, state): the manager and what the other
// verbs need (links, stop, logs, cleanup, ...) are imported by those bodies when they run.
import path from 'node:path'
import {servedRows, type ServedRow} from '../core/host/list.js'
import {endedPreviews, listPreviews} from '../core/preview/list.js'
import {locate} from '../core/preview/locate.js'
import type {EndedPreview, PreviewManager, StopResult} from '../core/preview/manager.js'
import type {AuthMode, PreviewRow} from '../core/records/types.js'
import {tokenOf} from './fields.js'
import {resultJsonLine, resultText} from './output.js'
import {codeLabel, expiresIn, sandboxLabel, table, timeLeft} from './render.js'

/** One flag, as both parsers read it (the oclif commands build their Flags from these). */
export interface FlagSpec {
  description: string
  /** Left out: a boolean (default false). */
  type?: 'string' | 'integer'
  /** The one-letter form (`-n`). */
  char?: string
  /** integer flags: the value when the flag is not given, and the least value accepted. */
  default?: number
  min?: number
  /** string flags: the only values accepted. */
  options?: readonly string[]
}

export const LIST_FLAGS = {
  all: {description: 'also list previews that ended (from the audit log), with stop_reason and when'},
  'show-secrets': {description: 'show share URLs with their token or password'},
} as const satisfies Record<string, FlagSpec>

export const STATUS_FLAGS = {
  'show-secrets': {description: 'show the share URL with its token or password'},
} as const satisfies Record<string, FlagSpec>

export const STOP_FLAGS = {
  all: {description: 'stop every preview'},
} as const satisfies Record<string, FlagSpec>

export const LOGS_FLAGS = {
  follow: {
    char: 'f',
    description: 'keep printing new lines (across restarts) until the preview stops or Ctrl-C; with --json one object per line',
  },
  lines: {char: 'n', default: 100, description: 'how many lines from the end', min: 0, type: 'integer'},
} as const satisfies Record<string, FlagSpec>

export const SHARE_FLAGS = {
  auth: {description: "credential kind; must match the preview's own auth mode", options: ['token', 'basic'], type: 'string'},
  expire: {description: 'link lifetime: 30m, 4h, 1d (default 4h, at most max_expire)', type: 'string'},
} as const satisfies Record<string, FlagSpec>

/** How a body talks: human lines (silent with --json, as oclif's this.log is) and whether JSON was asked for. */
export interface Io {
  log(line: string): void
  json: boolean
}

/** The manager for this directory, loaded when a body other than list's runs. */
async function previewManager(): Promise<PreviewManager> {
  const {PreviewManager} = await import('../core/preview/manager.js')
  return new PreviewManager({cwd: process.cwd()})
}

/** How far back plain `list` looks for previews that ended by crash or expiry (one line pointing at --all). */
const RECENT_SECONDS = 24 * 3600

export async function listBody(
  flags: {all: boolean; 'show-secrets': boolean},
  io: Io,
): Promise<Array<PreviewRow | ServedRow | EndedPreview>> {
  // One locate (one `git rev-parse`) and one read of state.json for the rows, the serve host's and the ended ones.
  const {paths} = await locate({cwd: path.resolve(process.cwd()), env: process.env}) // as PreviewManager.locate()
  const own = listPreviews(paths, {showSecrets: flags['show-secrets']})
  // Previews a `preview serve` host runs for this repository, marked `serve` (PROVIDER and the id's prefix).
  const rows: Array<PreviewRow | ServedRow> = [...own, ...servedRows(paths, {showSecrets: flags['show-secrets']})]
  // The audit log is read only when something shows it: --all, or plain human output (its one-line notice).
  const since = Date.now() / 1000 - RECENT_SECONDS
  const liveIds = new Set(own.map((r) => r.preview_id))
  const ended = flags.all ? endedPreviews(paths, {liveIds}) : io.json ? [] : endedPreviews(paths, {liveIds, sinceEpoch: since})
  // With --json the document is the result: no table is built (1,000 rows: ~5 ms) only for io.log to drop it.
  if (!io.json && rows.length === 0)
    io.log(flags.all && ended.length > 0 ? 'No running previews.' : 'No previews. Start one with `preview start`.')
  else if (!io.json) {
    io.log(
      table(
        ['ID', 'STATUS', 'PROVIDER', 'PORT', 'AUTH', 'EXPIRES', 'CODE', 'SANDBOX', 'URL'],
        rows.map((r) => [
          r.preview_id,
          r.status,
          r.tunnel_provider,
          String(r.port ?? '-'),
          r.auth_mode,
          'served_by' in r ? '-' : expiresIn(r.expires_at_epoch),
          'served_by' in r ? codeLabel({branch: null, commit: r.commit, ref: r.ref, sandbox_backend: 'worktree'}) : codeLabel(r),
          'served_by' in r ? `worktree/${r.sandbox_session_id}` : sandboxLabel(r),
          r.public_url ?? '-',
        ]),
      ),
    )
  }

  if (flags.all) {
    if (ended.length > 0 && !io.json) {
      io.log('')
      io.log(
        table(
          ['ID', 'STATUS', 'STOP_REASON', 'ENDED_AT', 'PROVIDER', 'CODE', 'COMMAND'],
          ended.map((e) => [
            e.preview_id,
            e.status,
            e.stop_reason,
            e.ended_at,
            e.tunnel_provider ?? '-',
            codeLabel({...e, ref: null, sandbox_backend: e.sandbox_backend as PreviewRow['sandbox_backend']}),
            e.command ?? '-',
          ]),
        ),
      )
    }

    return [...rows, ...ended]
  }

  const recent = ended.filter((e) => e.stop_reason !== 'operator' && e.ended_at_epoch >= since)
  if (recent.length > 0) {
    const crash = recent.filter((e) => e.stop_reason === 'crash').length
    const parts = [crash > 0 && `${crash} by crash`, recent.length - crash > 0 && `${recent.length - crash} by expiry`].filter(Boolean)
    io.log(
      `${recent.length === 1 ? '1 preview' : `${recent.length} previews`} ended in the last 24 h (${parts.join(', ')}): \`preview list --all\` shows them.`,
    )
  }

  return rows
}

export async function statusBody(id: string | undefined, flags: {'show-secrets': boolean}, io: Io): Promise<PreviewRow> {
  const manager = await previewManager()
  const row = await manager.status(await manager.resolveId(id, 'status'), {showSecrets: flags['show-secrets']})
  const fields: Array<[string, unknown]> = [
    ['id', row.preview_id],
    ['status', row.status],
    ['command', row.command],
    ['cwd', row.cwd],
    ['sandbox', sandboxLabel(row)],
    ['code', codeLabel(row)],
    ['port', row.port],
    ['gateway_port', row.gateway_port],
    ['provider', row.tunnel_provider],
    ['public_url', row.public_url],
    ['share_url', row.share_url],
    ['auth', row.auth_mode],
    ['expires', `${row.expires_at_epoch} (${expiresIn(row.expires_at_epoch)})`],
    ['restarts', row.restarts],
    ['pids', `supervisor=${row.supervisor_pid ?? '-'} dev=${row.process_pid ?? '-'}`],
  ]
  for (const [k, v] of fields) io.log(`${k.padEnd(13)}${v ?? '-'}`)
  return row
}

export async function stopBody(ids: string[], flags: {all: boolean}, io: Io): Promise<StopResult[]> {
  const results = await (await previewManager()).stop({all: flags.all, ids})
  if (results.length === 0) io.log('No previews to stop.')
  for (const r of results) io.log(`Stopped ${r.preview_id}${r.cleaned_up ? ' (its supervisor was gone; cleaned up)' : ''}`)
  return results
}

export interface LogsResult {
  /** Deprecated: the same as log_file (kept for existing callers). */
  file: string
  log_file: string
  preview_id: string
  lines: string[]
  bytes: number
}

/** One line of `logs --follow --json` (docs/json/log-line.json). */
export interface LogLine {
  line: string
  preview_id: string
  at_epoch: number
  /** true for the lines that were already in the log when following began. */
  backlog: boolean
}

/** `preview logs`: the last lines; with `follow`, a stream until the preview stops (then no document: undefined). */
export async function logsBody(id: string | undefined, flags: {follow: boolean; lines: number}, io: Io): Promise<LogsResult | undefined> {
  const manager = await previewManager()
  const previewId = await manager.resolveId(id, 'logs')
  const tail = await manager.logs({id: previewId, lines: flags.lines})
  const result: LogsResult = {...tail, log_file: tail.file, preview_id: previewId}
  if (!flags.follow) {
    for (const line of result.lines) io.log(line)
    return result
  }

  // One JSON object a line as each line is written; the human stream is the log's text as it comes.
  const emit = (line: string, backlog: boolean) =>
    resultJsonLine({at_epoch: Math.floor(Date.now() / 1000), backlog, line, preview_id: previewId} satisfies LogLine)
  if (io.json) for (const line of result.lines) emit(line, true)
  else for (const line of result.lines) io.log(line)
  const [{LineSplitter}, {untilSignal}] = await Promise.all([import('../core/records/follow.js'), import('./signals.js')])
  const lines = new LineSplitter() // --json: whole lines only, a line the dev server is still writing waits
  await untilSignal((signal) =>
    manager.followLogs({
      fromByte: result.bytes,
      id: previewId,
      onText(text) {
        if (io.json) for (const line of lines.push(text)) emit(line, false)
        else resultText(text)
      },
      signal,
    }),
  )
  const rest = lines.end()
  if (io.json && rest) emit(rest, false)
  return undefined
}

export interface ShareCommandResult {
  preview_id: string
  /** Deprecated: the same as share_url (kept for existing callers). */
  url: string
  share_url: string
  /** token mode: the credential alone, for `Authorization: Bearer` (null in basic mode). */
  token: string | null
  jti: string
  auth_mode: AuthMode
  expires_at_epoch: number
}

/** `preview share`: another link to a running preview. */
export async function shareBody(
  id: string | undefined,
  flags: {auth?: string | undefined; expire?: string | undefined},
  io: Io,
): Promise<ShareCommandResult> {
  const manager = await previewManager()
  const previewId = await manager.resolveId(id, 'share')
  const {record, url} = await manager.share({auth: flags.auth, expire: flags.expire, id: previewId})
  io.log(
    `Link for ${previewId} (auth=${record.auth_mode}, jti=${record.jti}, expires_epoch=${record.expires_at_epoch} ${timeLeft(record.expires_at_epoch)})`,
  )
  io.log(`URL: ${url}`)
  return {
    auth_mode: record.auth_mode,
    expires_at_epoch: record.expires_at_epoch,
    jti: record.jti,
    preview_id: previewId,
    share_url: url,
    token: tokenOf(url),
    url,
  }
}
