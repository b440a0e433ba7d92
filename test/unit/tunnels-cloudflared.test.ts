import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {TunnelFailed} from '../../src/core/errors.js'
import {cloudflaredArgs, cloudflaredDriver, scanCloudflared} from '../../src/core/tunnels/drivers/cloudflared.js'
import type {TunnelHandle} from '../../src/core/tunnels/types.js'
import {fixture, groupGone, origin, testPath, tmp, until} from '../fakes/helpers.js'

describe('cloudflared parser (real output)', () => {
  it('takes the trycloudflare URL from the banner, not the docs/terms links, and waits for a registered connection', () => {
    const lines = fixture('cloudflared-quick.txt')
    const bannerEnd = lines.findIndex((l) => l.includes('Version 2023.4.0'))
    const beforeRegister = scanCloudflared(lines.slice(0, bannerEnd + 1))
    expect(beforeRegister.url).toBe('https://buffalo-marco-cardiff-motel.trycloudflare.com')
    expect(beforeRegister.registered).toBe(false)
    const all = scanCloudflared(lines)
    expect(all.registered).toBe(true)
    expect(all.error).toBeNull()
  })

  it('names rate limiting (429 / error 1015)', () => {
    const state = scanCloudflared(fixture('cloudflared-ratelimit.txt'))
    expect(state.url).toBeNull()
    expect(state.error?.reason).toBe('rate-limited')
    expect(state.error?.message).toMatch(/429/)
    expect(state.error?.message).toMatch(/1015/)
  })

  it('does not mistake api.trycloudflare.com in a failure for the tunnel URL', () => {
    const state = scanCloudflared(fixture('cloudflared-dns-failure.txt'))
    expect(state.url).toBeNull()
    expect(state.error?.reason).toBe('error')
    expect(state.error?.message).toMatch(/failed to request quick Tunnel.*no such host/)
  })

  it('strips ANSI and carriage returns', () => {
    const state = scanCloudflared(
      [
        '\u001B[90m2024-01-01T00:00:00Z\u001B[0m \u001B[32mINF\u001B[0m |  https://a-b-c-d.trycloudflare.com   |\r',
        '2024-01-01T00:00:01Z INF Registered tunnel connection connIndex=0\r',
      ].map((l) => l.replace(new RegExp(String.raw`\u001B\[[0-9;]*m`, 'g'), '').replace(/\r/g, '')),
    )
    expect(state.url).toBe('https://a-b-c-d.trycloudflare.com')
    expect(state.registered).toBe(true)
  })

  it('builds quick and named argv; a named tunnel needs a hostname', () => {
    expect(cloudflaredArgs('http://127.0.0.1:4000', {}).args).toEqual(['tunnel', '--url', 'http://127.0.0.1:4000', '--no-autoupdate'])
    const named = cloudflaredArgs('http://127.0.0.1:4000', {hostname: 'preview.example.com', token: 'secret-token'})
    expect(named.named).toBe(true)
    expect(named.args.join(' ')).not.toContain('secret-token')
    expect(() => cloudflaredArgs('http://127.0.0.1:4000', {token: 'x'})).toThrow(/hostname/)
  })
})

describe('cloudflared driver against the fake binary', () => {
  const handles: TunnelHandle[] = []
  afterEach(async () => {
    for (const h of handles.splice(0)) await h.close()
  })

  function env(extra: Record<string, string> = {}) {
    const dir = tmp('cf-')
    return {
      argvFile: path.join(dir, 'argv.json'),
      env: {FAKE_ARGV_FILE: path.join(dir, 'argv.json'), HOME: dir, PATH: testPath(true), ...extra},
    }
  }

  it('opens a quick tunnel to the gateway URL and close() leaves no process behind', async () => {
    const gw = await origin()
    const {argvFile, env: e} = env({FAKE_SPAWN_CHILD: '1'})
    expect(await cloudflaredDriver.available({config: {}, env: e})).toMatchObject({ok: true})
    const handle = await cloudflaredDriver.open({config: {}, env: e, gatewayPort: gw.port, localUrl: gw.url, timeoutMs: 10_000})
    handles.push(handle)
    expect(handle.publicUrl).toMatch(/^https:\/\/[a-z]+(-[a-z]+){3}\.trycloudflare\.com$/)
    const recorded = JSON.parse(readFileSync(argvFile, 'utf8')) as {argv: string[]}
    expect(recorded.argv).toEqual(['tunnel', '--url', gw.url, '--no-autoupdate'])
    expect(handle.pid).toBeGreaterThan(0)
    expect(groupGone(handle.pid)).toBe(false)
    await handle.close()
    expect(groupGone(handle.pid)).toBe(true)
    await handle.close() // twice is safe
    gw.server.close()
  })

  it('fails with TunnelFailed rate-limited and the tool reason when Cloudflare answers 429', async () => {
    const {env: e} = env({FAKE_CLOUDFLARED_MODE: 'ratelimit'})
    const err = await cloudflaredDriver
      .open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 10_000})
      .catch((error: unknown) => error)
    expect(err).toBeInstanceOf(TunnelFailed)
    expect((err as TunnelFailed).reason).toBe('rate-limited')
    expect((err as TunnelFailed).message).toMatch(/429.*1015/)
  })

  it("fails with reason error and cloudflared's own words when it exits", async () => {
    const {env: e} = env({FAKE_CLOUDFLARED_MODE: 'exit'})
    const err = (await cloudflaredDriver
      .open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 10_000})
      .catch((error: unknown) => error)) as TunnelFailed
    expect(err).toBeInstanceOf(TunnelFailed)
    expect(err.message).toMatch(/failed to request quick Tunnel/)
    expect(err.details.join('\n')).toMatch(/Requesting new quick Tunnel/)
  })

  it('times out on a hang and kills the process', async () => {
    const {argvFile, env: e} = env({FAKE_CLOUDFLARED_MODE: 'hang'})
    const started = Date.now()
    const err = (await cloudflaredDriver
      .open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 2000})
      .catch((error: unknown) => error)) as TunnelFailed
    expect(err.reason).toBe('timeout')
    expect(Date.now() - started).toBeLessThan(8000)
    const {pid} = JSON.parse(readFileSync(argvFile, 'utf8')) as {pid: number}
    expect(await until(() => groupGone(pid), 3000)).toBe(true)
  })

  it('is not ready before a connection registers (URL printed, no Registered line)', async () => {
    const {env: e} = env({FAKE_CLOUDFLARED_MODE: 'noregister'})
    // Long enough for the fake to print its URL even on a loaded machine; it never registers a connection.
    const err = (await cloudflaredDriver
      .open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 4000})
      .catch((error: unknown) => error)) as TunnelFailed
    expect(err.reason).toBe('timeout')
    expect(err.message).toMatch(/registered no connection/)
  })

  it('reports a tunnel that dies after start through onExit', async () => {
    const {env: e} = env({FAKE_CLOUDFLARED_MODE: 'die', FAKE_DIE_AFTER_MS: '200'})
    const handle = await cloudflaredDriver.open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 10_000})
    handles.push(handle)
    const reason = await new Promise<string>((resolve) => handle.onExit(resolve))
    expect(reason).toMatch(/exit code 1/)
    expect(await until(() => groupGone(handle.pid), 3000)).toBe(true)
  })

  it('runs a named tunnel with the token in TUNNEL_TOKEN (not argv) and the configured hostname', async () => {
    const {argvFile, env: e} = env()
    const handle = await cloudflaredDriver.open({
      config: {hostname: 'preview.example.com', token: 'tok-123'},
      env: e,
      gatewayPort: 4321,
      localUrl: 'http://127.0.0.1:4321',
      timeoutMs: 10_000,
    })
    handles.push(handle)
    expect(handle.publicUrl).toBe('https://preview.example.com')
    const recorded = JSON.parse(readFileSync(argvFile, 'utf8')) as {argv: string[]; tunnelToken: boolean}
    expect(recorded.tunnelToken).toBe(true)
    expect(recorded.argv.join(' ')).not.toContain('tok-123')
  })

  it('is unavailable with an install hint when nothing is on PATH', async () => {
    const a = await cloudflaredDriver.available({config: {}, env: {PATH: testPath(false)}})
    // The npm package may carry its own binary; without it, the hint names how to install.
    if (!a.ok) expect(a.hint).toMatch(/install cloudflared/)
    const bad = await cloudflaredDriver.available({config: {}, env: {CLOUDFLARED_BIN: '/nonexistent/cloudflared', PATH: testPath(true)}})
    expect(bad).toMatchObject({ok: false})
  })
})
