// `preview restart`: the supervisor restarts the dev server behind the same gateway, tunnel and links (SIGUSR2);
// this side asks, then waits for the row to say it came back.
import {setTimeout as sleep} from 'node:timers/promises'
import {InvalidInput, PreviewError, PreviewNotFound, StartFailed} from '../errors.js'
import {isAlive, killPid} from '../process.js'
import type {SddPaths} from '../records/paths.js'
import {findRow, patchRow} from '../records/state.js'
import type {PreviewRow} from '../records/types.js'
import {HEAD_WORKTREE, isBranch, pullBranch} from '../sandbox/resolve.js'
import {present} from './list.js'

/** How long `preview restart` waits for the dev server to come back. */
const RESTART_WAIT_MS = 120_000

/** How often the wait looks at the row. */
const RESTART_POLL_MS = 100

/**
 * Restarts a preview's dev server. With `pull`, a branch preview's worktree is first brought to the branch tip
 * (fetching its upstream when it has one). Resolves with the row once the dev server is back.
 */
export async function restartPreview(
  paths: SddPaths,
  root: string | null,
  opts: {id: string; pull?: boolean; timeoutMs?: number},
): Promise<PreviewRow> {
  const row = findRow(paths, opts.id)
  if (!row) throw new PreviewNotFound(opts.id)
  checkRestartable(row)
  const requested = Date.now()
  const patch: Partial<PreviewRow> = {restart_requested_at_ms: requested}
  if (opts.pull) patch.commit = await pull(row, root)
  await patchRow(paths, opts.id, patch)
  killPid(row.supervisor_pid!, 'SIGUSR2')
  return waitForRestart(paths, row, requested, opts.timeoutMs ?? RESTART_WAIT_MS)
}

function checkRestartable(row: PreviewRow): void {
  const id = row.preview_id
  if (!isAlive(row.supervisor_pid, row.supervisor_start_time)) {
    throw new PreviewError(
      'PREVIEW_NOT_RUNNING',
      `Preview ${id} has no running supervisor (${row.status === 'crashed' ? 'crashed' : 'gone'}).`,
      {
        hint: `Run \`preview stop ${id}\` and start it again.`,
      },
    )
  }

  if (row.sandbox_backend === 'attached') {
    throw new InvalidInput(
      `${id} fronts a server preview did not start (--attach), so there is nothing to restart.`,
      'Restart that server yourself; the preview keeps forwarding to its port.',
    )
  }
}

/** --pull: the branch tip, for a --ref branch preview or preview's own HEAD worktree of a branch (never an agent's worktree: it is theirs). */
async function pull(row: PreviewRow, root: string | null): Promise<string> {
  const ownHead = row.sandbox_backend === 'worktree' && (row.sandbox_session_id ?? '').startsWith(HEAD_WORKTREE)
  const branch = row.ref ?? (ownHead ? (row.branch ?? null) : null)
  if (!branch || !root || !(await isBranch(root, branch))) {
    throw new InvalidInput(
      `--pull needs a preview of a branch; ${row.preview_id} ${row.ref ? `previews ${row.ref}, which is not a branch` : 'was not started with --ref or from a branch'}.`,
      'Start it with `preview start --ref BRANCH`, or restart without --pull.',
    )
  }

  return pullBranch(root, row.cwd, branch)
}

async function waitForRestart(paths: SddPaths, row: PreviewRow, requested: number, timeoutMs: number): Promise<PreviewRow> {
  const id = row.preview_id
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const now = findRow(paths, id)
    if (!now)
      throw new StartFailed(
        `The dev server of ${id} did not come back after the restart; the preview stopped.`,
        [],
        `See ${row.log_file ?? 'its log'} (preview logs ${id} is gone with it).`,
      )
    if (Number(now.restarted_at_ms ?? 0) >= requested) return present(now, false)
    await sleep(RESTART_POLL_MS)
  }

  throw new StartFailed(
    `The restart of ${id} did not finish within ${Math.round(timeoutMs / 1000)}s.`,
    [],
    `Run \`preview logs ${id}\` to see why.`,
  )
}
