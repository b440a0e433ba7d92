// Tunnel providers through the whole CLI, with faithful fakes first on PATH (the providers' clouds are unreachable here).
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {FAKES_BIN, groupGone, tmp} from '../fakes/helpers.js'
import {json, runCli} from '../helpers/cli.js'
import {pidsInside, portOpen, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const SYSTEM_PATH = [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':')

describe('tunnel providers through `preview start`', () => {
  let repo: TempRepo
  beforeAll(() => {
    repo = makeRepo()
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
  })

  it('--provider cloudflared: public_url is the trycloudflare URL, the fake got --url to the gateway, stop leaves no tunnel', async () => {
    const argvFile = path.join(tmp('cf-argv-'), 'argv.json')
    const env = {CLOUDFLARED_BIN: '', FAKE_ARGV_FILE: argvFile, PATH: `${FAKES_BIN}:${SYSTEM_PATH}`}
    const start = await runCli(['start', '--provider', 'cloudflared', '--cwd', '.', '--command', 'node server.js', '--json'], {
      cwd: repo.dir,
      env,
    })
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect(row.tunnel_provider).toBe('cloudflared')
    expect(row.public_url).toMatch(/^https:\/\/[a-z0-9-]+\.trycloudflare\.com$/)
    expect(row.share_url.startsWith(`${row.public_url}/?token=`)).toBe(true)
    const {argv} = JSON.parse(readFileSync(argvFile, 'utf8'))
    expect(argv).toEqual(['tunnel', '--url', `http://127.0.0.1:${row.gateway_port}`, '--no-autoupdate'])
    expect(row.tunnel_pid).toBeGreaterThan(0)
    expect(groupGone(row.tunnel_pid)).toBe(false)

    const stop = await runCli(['stop', row.preview_id], {cwd: repo.dir, env})
    expect(stop.code).toBe(0)
    expect(await waitFor(() => groupGone(row.tunnel_pid), 5000)).toBe(true)
    expect(await portOpen(row.gateway_port)).toBe(false)
  })

  it('a tunnel that fails at start rolls everything back with the tool’s own reason', async () => {
    const env = {FAKE_CLOUDFLARED_MODE: 'ratelimit', PATH: `${FAKES_BIN}:${SYSTEM_PATH}`}
    const start = await runCli(['start', '--provider', 'cloudflared', '--cwd', '.', '--command', 'node server.js'], {cwd: repo.dir, env})
    expect(start.code).toBe(1)
    expect(start.stderr).toMatch(/429|1015|rate/i)
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })

  it('auto with nothing installed: exit 1 naming each provider and how to install it, suggesting --provider local; nothing left', async () => {
    const env = {NGROK_AUTHTOKEN: '', PATH: SYSTEM_PATH}
    const start = await runCli(['start', '--cwd', '.', '--command', 'node server.js'], {cwd: repo.dir, env})
    expect(start.code).toBe(1)
    for (const provider of ['cloudflared', 'ngrok', 'tailscale', 'bore']) expect(start.stderr).toContain(provider)
    expect(start.stderr).toContain('NGROK_AUTHTOKEN')
    expect(start.stderr).toContain('--provider local')
    expect(json(await runCli(['list', '--json'], {cwd: repo.dir}))).toEqual([])
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })

  it('a tunnel that dies later is reopened once; dying again stops the preview with reason crash', async () => {
    const env = {FAKE_CLOUDFLARED_MODE: 'die', FAKE_DIE_AFTER_MS: '1500', PATH: `${FAKES_BIN}:${SYSTEM_PATH}`}
    const start = await runCli(['start', '--provider', 'cloudflared', '--cwd', '.', '--command', 'node server.js', '--json'], {
      cwd: repo.dir,
      env,
    })
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    const audit = path.join(repo.dir, '.sdd', 'audit', 'preview.jsonl')
    const stopped = () =>
      readFileSync(audit, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .find((e) => e.event === 'stop' && e.preview_id === row.preview_id)
    expect(await waitFor(() => Boolean(stopped()), 20_000)).toBe(true)
    expect(stopped().reason).toBe('crash')
    const log = readFileSync(row.log_file, 'utf8')
    expect(log).toContain('tunnel reopened: https://')
    expect(await waitFor(() => pidsInside(repo.dir).length === 0, 5000)).toBe(true)
  })
})
