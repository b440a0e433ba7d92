// The one file follower (records/follow.ts) that logs, events and requests --follow read through.
import {spawn} from 'node:child_process'
import {appendFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, expect, it} from 'vitest'
import {PreviewManager} from '../../src/core/preview/manager.js'
import {procStartTime} from '../../src/core/process.js'
import {FileTail, LineSplitter} from '../../src/core/records/follow.js'
import {logFile, sddPaths} from '../../src/core/records/paths.js'
import {removeRow, upsertRow} from '../../src/core/records/state.js'
import type {PreviewRow} from '../../src/core/records/types.js'

let dir: string
let file: string
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'follow-'))
  file = path.join(dir, 'x.log')
})
afterEach(() => rmSync(dir, {force: true, recursive: true}))

it('reads what is appended since the last read, nothing when there is nothing new or no file yet', () => {
  const tail = new FileTail(file)
  expect(tail.readText()).toBe('')
  writeFileSync(file, 'one\n')
  expect(tail.readText()).toBe('one\n')
  expect(tail.readText()).toBe('')
  appendFileSync(file, 'two\n')
  expect(tail.readText()).toBe('two\n')
  expect(tail.offset).toBe(8)
})

it('a character split across two writes comes out whole', () => {
  const tail = new FileTail(file)
  const e = Buffer.from('é→', 'utf8') // 2 + 3 bytes
  writeFileSync(file, e.subarray(0, 1))
  const first = tail.readText()
  appendFileSync(file, e.subarray(1, 3))
  const second = tail.readText()
  appendFileSync(file, e.subarray(3))
  expect(first + second + tail.readText()).toBe('é→')
})

it('whole lines only: a line still being written waits for its newline; CRLF lines lose their \\r', () => {
  const tail = new FileTail(file)
  writeFileSync(file, 'a\r\nb')
  expect(tail.readLines()).toEqual(['a'])
  appendFileSync(file, 'c\n\n')
  expect(tail.readLines()).toEqual(['bc', ''])
})

it('a file cut short is read again from its start', () => {
  writeFileSync(file, 'old line\nhalf')
  const tail = new FileTail(file)
  expect(tail.readLines()).toEqual(['old line'])
  truncateSync(file, 0)
  writeFileSync(file, 'new\n')
  expect(tail.readLines()).toEqual(['new']) // not "halfnew"
})

it('a splitter keeps a runaway line bounded and hands over the unfinished rest at the end', () => {
  const lines = new LineSplitter(4)
  expect(lines.push('abcdefgh')).toEqual([])
  expect(lines.push('ij\nk')).toEqual(['efghij']) // its last 4 characters, then the rest of it
  expect(lines.end()).toBe('k')
  expect(lines.end()).toBe('')
})

it('logs --follow: a character the dev server writes in two pieces reaches the follower whole', async () => {
  const sdd = path.join(dir, '.sdd')
  const paths = sddPaths(sdd)
  const id = 'p-0f011006'
  const supervisor = spawn('sleep', ['30'], {stdio: 'ignore'}) // stands for the preview's running supervisor
  try {
    const now = Math.floor(Date.now() / 1000)
    await upsertRow(paths, {
      auth_mode: 'none',
      command: 'x',
      created_at_epoch: now,
      cwd: dir,
      expires_at_epoch: now + 3600,
      gateway_port: 1,
      links: [],
      port: 2,
      preview_id: id,
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
    } satisfies PreviewRow)
    mkdirSync(path.dirname(logFile(paths, id)), {recursive: true})
    writeFileSync(logFile(paths, id), '')
    const bytes = Buffer.from('é\n', 'utf8')
    const pieces: string[] = []
    const manager = new PreviewManager({cwd: dir, env: {...process.env, PREVIEW_SDD_DIR: sdd}})
    const following = manager.followLogs({fromByte: 0, id, onText: (t) => pieces.push(t), pollMs: 20})
    appendFileSync(logFile(paths, id), bytes.subarray(0, 1))
    await new Promise((r) => setTimeout(r, 200)) // several polls see the first byte alone
    appendFileSync(logFile(paths, id), bytes.subarray(1))
    await new Promise((r) => setTimeout(r, 200))
    await removeRow(paths, id)
    supervisor.kill('SIGKILL')
    await following
    expect(pieces.join('')).toBe('é\n')
  } finally {
    supervisor.kill('SIGKILL')
  }
})
