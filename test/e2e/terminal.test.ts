// `preview start` as a person sees it: on a real pseudo-terminal (util-linux `script`), the progress line keeps
// counting while the dev server boots and shows its latest output line; --open hands the link to the opener;
// the banner says how long the link lives. Without a TTY, --open opens nothing.
import {execFileSync, spawnSync} from 'node:child_process'
import {chmodSync, existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {BIN, runCli} from '../helpers/cli.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const SLOW_SERVER = `
const http = require('http')
let n = 0
const t = setInterval(() => console.log('\\u001b[32mbooting step ' + (++n) + '\\u001b[39m'), 300)
setTimeout(() => {
  clearInterval(t)
  http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('Server listening on http://localhost:' + process.env.PORT))
}, 2500)
`
const hasScript = spawnSync('script', ['--version']).status === 0

describe.skipIf(!hasScript)('start on a terminal', () => {
  let repo: TempRepo
  let opener: string
  let opened: string
  beforeAll(() => {
    repo = makeRepo({files: {'slow.js': SLOW_SERVER}})
    opened = path.join(repo.dir, 'opened.txt')
    opener = path.join(repo.dir, 'opener.sh')
    writeFileSync(opener, `#!/bin/sh\necho "$@" > ${opened}\n`)
    chmodSync(opener, 0o755)
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('counts seconds through a slow boot, shows its latest line, opens the link, says the time left', () => {
    const cmd = `${process.execPath} ${BIN} start --provider local --cwd . --command 'node slow.js' --open --no-clipboard`
    const out = execFileSync('script', ['-qfec', cmd, '/dev/null'], {
      cwd: repo.dir,
      encoding: 'utf8',
      env: {...process.env, CI: 'true', NO_COLOR: '1', PREVIEW_BROWSER_OPENER: opener, PREVIEW_PROBE_TIMEOUT_MS: '0'},
      timeout: 60_000,
    })
    const frames = out.split('\r').map((f) => f.replace('\u001B[2K', ''))
    const waiting = frames.filter((f) => /^\[\d+\.\ds\] dev server: node slow\.js/.test(f))
    // Redrawn while waiting: many frames, and the seconds move on between them.
    expect(new Set(waiting.map((f) => f.slice(0, f.indexOf(']')))).size).toBeGreaterThanOrEqual(5)
    // The dev server's latest output line, without its colour codes.
    expect(waiting.some((f) => /\| booting step \d+$/.test(f))).toBe(true)
    expect(waiting.join('')).not.toContain('\u001B[32m')
    expect(out).toMatch(/expires_epoch=\d+ \(in 4h\)/)
    expect(out).toContain('Opened the link in your browser.')
    const url = /URL: (\S+)/.exec(out)![1]!
    expect(readFileSync(opened, 'utf8').trim()).toBe(url)
  })

  it('without a terminal --open opens nothing and says why', async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    rmSync(opened, {force: true})
    const start = await runCli(['start', '--provider', 'local', '--cwd', '.', '--command', 'node slow.js', '--open'], {
      cwd: repo.dir,
      env: {PREVIEW_BROWSER_OPENER: opener},
    })
    expect(start.code, start.stderr).toBe(0)
    expect(start.stderr).toContain('Not opening a browser: no terminal')
    await new Promise((r) => setTimeout(r, 300)) // an opener, had one been spawned, has written by now
    expect(existsSync(opened)).toBe(false)
    // No TTY: plain progress lines, one per step, no redraws.
    expect(start.stderr).not.toContain('\r')
  })
})
