import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {TunnelFailed} from '../../src/core/errors.js'
import {parseTailscaleVersion, scanTailscale, tailscaleArgs, tailscaleDriver} from '../../src/core/tunnels/drivers/tailscale.js'
import type {TunnelHandle} from '../../src/core/tunnels/types.js'
import {fixture, groupGone, testPath, tmp} from '../fakes/helpers.js'

describe('tailscale parser', () => {
  it('takes the https://*.ts.net URL under "Available on the internet"', () => {
    const s = scanTailscale(fixture('tailscale-funnel.txt'))
    expect(s.url).toBe('https://laptop.tail1234.ts.net')
    expect(s.error).toBeNull()
  })

  it('names "Funnel is not enabled" with the admin URL (real output)', () => {
    const s = scanTailscale(fixture('tailscale-funnel-not-enabled.txt'))
    expect(s.url).toBeNull()
    expect(s.error?.reason).toBe('not-configured')
    expect(s.error?.message).toContain('https://login.tailscale.com/f/funnel?node=nho4oGYG7X11CNTRL')
  })

  it('does not take a tailnet-only serve URL as public', () => {
    const s = scanTailscale(['Available within your tailnet:', '', 'https://laptop.tail1234.ts.net/', '|-- proxy http://127.0.0.1:3000'])
    expect(s.url).toBeNull()
    expect(s.error?.reason).toBe('not-configured')
  })

  it('parses versions and builds 1.52+ argv', () => {
    expect(parseTailscaleVersion('1.66.4\n  tailscale commit: abc')).toEqual([1, 66, 4])
    expect(parseTailscaleVersion('garbage')).toBeNull()
    expect(tailscaleArgs('http://127.0.0.1:5000', {})).toEqual(['funnel', '--https=443', 'http://127.0.0.1:5000'])
    expect(() => tailscaleArgs('http://127.0.0.1:5000', {https_port: 8080})).toThrow(/443, 8443 or 10000/)
  })
})

describe('tailscale driver against the fake CLI', () => {
  const handles: TunnelHandle[] = []
  afterEach(async () => {
    for (const h of handles.splice(0)) await h.close()
  })

  const env = (extra: Record<string, string> = {}) => {
    const dir = tmp('ts-')
    const stateFile = path.join(dir, 'serve.json')
    return {
      argvFile: path.join(dir, 'argv.jsonl'),
      env: {FAKE_ARGV_FILE: path.join(dir, 'argv.jsonl'), FAKE_TAILSCALE_STATE_FILE: stateFile, PATH: testPath(true), ...extra},
      stateFile,
    }
  }

  const serveState = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as {Web?: Record<string, unknown>}

  it('is available when logged in and 1.52+, not when old or logged out', async () => {
    expect(await tailscaleDriver.available({config: {}, env: env().env})).toMatchObject({ok: true})
    const old = await tailscaleDriver.available({config: {}, env: env({FAKE_TAILSCALE_VERSION: '1.50.1'}).env})
    expect(old).toMatchObject({ok: false})
    if (!old.ok) expect(old.hint).toMatch(/1\.52/)
    const out = await tailscaleDriver.available({config: {}, env: env({FAKE_TAILSCALE_MODE: 'loggedout'}).env})
    expect(out).toMatchObject({ok: false})
    if (!out.ok) expect(out.hint).toMatch(/tailscale up/)
  })

  it('funnels the gateway, and stop removes the funnel and the process', async () => {
    const {argvFile, env: e, stateFile} = env()
    const h = await tailscaleDriver.open({config: {}, env: e, gatewayPort: 4100, localUrl: 'http://127.0.0.1:4100', timeoutMs: 5000})
    handles.push(h)
    expect(h.publicUrl).toBe('https://laptop.tail1234.ts.net')
    expect(JSON.stringify(serveState(stateFile))).toContain('http://127.0.0.1:4100')
    await h.close()
    expect(groupGone(h.pid)).toBe(true)
    expect(JSON.stringify(serveState(stateFile))).not.toContain('http://127.0.0.1:4100')
    const calls = readFileSync(argvFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as {argv: string[]}).argv)
    expect(calls[0]).toEqual(['funnel', '--https=443', 'http://127.0.0.1:4100'])
  })

  it('turns the port off at stop when the daemon kept our config', async () => {
    const {argvFile, env: e, stateFile} = env({FAKE_TAILSCALE_MODE: 'leak'})
    const h = await tailscaleDriver.open({config: {}, env: e, gatewayPort: 4101, localUrl: 'http://127.0.0.1:4101', timeoutMs: 5000})
    await h.close()
    expect(JSON.stringify(serveState(stateFile))).not.toContain('4101')
    expect(readFileSync(argvFile, 'utf8')).toContain('"off"')
  })

  it('fails (not-configured) with the admin URL when Funnel is not enabled, killing the waiting CLI', async () => {
    const {env: e} = env({FAKE_TAILSCALE_MODE: 'notenabled'})
    const err = (await tailscaleDriver
      .open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 5000})
      .catch((x: unknown) => x)) as TunnelFailed
    expect(err).toBeInstanceOf(TunnelFailed)
    expect(err.reason).toBe('not-configured')
    expect(err.message).toContain('login.tailscale.com/f/funnel')
  })
})
