// The supervisor reads an adopted dev server's output from its log file as it is written (followLines). What it
// reads feeds port capture and the preview's recent lines, so a line must arrive whole and as written.
import {appendFileSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {afterEach, describe, expect, it} from 'vitest'
import {followLines} from '../../src/core/supervisor/dev-server.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {force: true, recursive: true})
})

async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (check()) return true
  return check()
}

describe('followLines (the supervisor reading an adopted dev server log)', () => {
  it('a character whose bytes are written in two pieces arrives whole', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dev-log-'))
    dirs.push(dir)
    const file = path.join(dir, 'p.log')
    writeFileSync(file, 'before\n')
    const lines: string[] = []
    const stop = followLines(file, 7, (l) => lines.push(l))
    try {
      const line = Buffer.from('  ➜  Local:   http://localhost:5173/\n')
      const cut = line.indexOf(0x9e) // inside the 3 bytes of ➜ (e2 9e 9c)
      appendFileSync(file, line.subarray(0, cut))
      await sleep(150) // let the watcher read the first piece on its own
      appendFileSync(file, line.subarray(cut))
      expect(await until(() => lines.length === 1)).toBe(true)
      expect(lines).toEqual(['  ➜  Local:   http://localhost:5173/'])
    } finally {
      stop()
    }
  })

  it('reads from the offset on, whole lines only, CRLF as LF', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dev-log-'))
    dirs.push(dir)
    const file = path.join(dir, 'p.log')
    writeFileSync(file, 'old line\n')
    const lines: string[] = []
    const stop = followLines(file, 9, (l) => lines.push(l))
    try {
      appendFileSync(file, 'ready on port 4000\r\npart')
      expect(await until(() => lines.length === 1)).toBe(true)
      appendFileSync(file, 'ial\n')
      expect(await until(() => lines.length === 2)).toBe(true)
      expect(lines).toEqual(['ready on port 4000', 'partial'])
    } finally {
      stop()
    }
  })
})
