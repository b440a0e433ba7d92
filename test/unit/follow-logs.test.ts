// logs --follow ends when the preview stops, but not before the supervisor's last lines: it removes its row,
// then writes them and exits. The follower waits (bounded) for that exit.
import {spawn} from 'node:child_process'
import {appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, expect, it} from 'vitest'
import {PreviewManager} from '../../src/core/preview/manager.js'
import {logFile, sddPaths} from '../../src/core/records/paths.js'
import {removeRow, upsertRow} from '../../src/core/records/state.js'
import type {PreviewRow} from '../../src/core/records/types.js'
import {procStartTime} from '../../src/core/process.js'

const ID = 'p-0f011005'
let dir: string
afterEach(() => rmSync(dir, {force: true, recursive: true}))

it('after the row is gone, keeps reading until the supervisor has exited, so its last line is not lost', async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'follow-'))
  const sdd = path.join(dir, '.sdd')
  const paths = sddPaths(sdd)
  const supervisor = spawn('sleep', ['30'], {stdio: 'ignore'}) // stands for a supervisor that is still shutting down
  try {
    const now = Math.floor(Date.now() / 1000)
    const row = {
      auth_mode: 'none',
      command: 'x',
      created_at_epoch: now,
      cwd: dir,
      expires_at_epoch: now + 3600,
      gateway_port: 1,
      links: [],
      port: 2,
      preview_id: ID,
      process_pid: null,
      public_url: null,
      restarts: 0,
      sandbox_backend: 'cwd',
      sandbox_session_id: null,
      share_url: null,
      status: 'running',
      supervisor_pid: supervisor.pid!,
      supervisor_start_time: procStartTime(supervisor.pid!),
      tunnel_name: null,
      tunnel_provider: 'local',
    } satisfies PreviewRow
    await upsertRow(paths, row)
    mkdirSync(path.dirname(logFile(paths, ID)), {recursive: true})
    writeFileSync(logFile(paths, ID), 'first\n')
    let seen = ''
    const manager = new PreviewManager({cwd: dir, env: {...process.env, PREVIEW_SDD_DIR: sdd}})
    const following = manager.followLogs({fromByte: 0, id: ID, onText: (t) => (seen += t), pollMs: 50})
    await new Promise((r) => setTimeout(r, 200))
    await removeRow(paths, ID)
    await new Promise((r) => setTimeout(r, 300))
    appendFileSync(logFile(paths, ID), '[preview] stopped\n')
    supervisor.kill('SIGKILL')
    await following
    expect(seen).toContain('first')
    expect(seen).toContain('[preview] stopped')
  } finally {
    supervisor.kill('SIGKILL')
  }
})
