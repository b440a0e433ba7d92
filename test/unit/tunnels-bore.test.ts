import {readFileSync} from 'node:fs'
import path from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {TunnelFailed} from '../../src/core/errors.js'
import {boreArgs, boreDriver, scanBore} from '../../src/core/tunnels/drivers/bore.js'
import type {TunnelHandle} from '../../src/core/tunnels/types.js'
import {fixture, groupGone, testPath, tmp, until} from '../fakes/helpers.js'

describe('bore parser (real output)', () => {
  it('turns `listening at HOST:PORT` into http://HOST:PORT', () => {
    const s = scanBore(fixture('bore-local.txt'))
    expect(s.url).toBe('http://bore.pub:47882')
    expect(s.remotePort).toBe(47882)
  })

  it('reads coloured output once ANSI and CR are stripped', () => {
    expect(scanBore(fixture('bore-local-ansi.txt')).url).toBe('http://127.0.0.1:52569')
  })

  it("keeps bore's own error and its cause", () => {
    const s = scanBore(fixture('bore-connect-failure.txt'))
    expect(s.url).toBeNull()
    expect(s.error).toBe('could not connect to bore.pub:7835: timed out')
  })

  it('builds argv with the server, never the secret', () => {
    const a = boreArgs(4000, {secret: 's3cret', server: 'bore.example.com'})
    expect(a.args).toEqual(['local', '4000', '--local-host', '127.0.0.1', '--to', 'bore.example.com'])
    expect(a.secret).toBe('s3cret')
    expect(boreArgs(4000, {}).server).toBe('bore.pub')
    expect(() => boreArgs(4000, {server: 'https://x:7835'})).toThrow(/host name/)
  })
})

describe('bore driver against the fake binary', () => {
  const handles: TunnelHandle[] = []
  afterEach(async () => {
    for (const h of handles.splice(0)) await h.close()
  })

  const env = (extra: Record<string, string> = {}) => {
    const dir = tmp('bore-')
    return {argvFile: path.join(dir, 'argv.json'), env: {FAKE_ARGV_FILE: path.join(dir, 'argv.json'), PATH: testPath(true), ...extra}}
  }

  it('opens, gives http://server:port, passes the gateway port, and close() kills it', async () => {
    const {argvFile, env: e} = env()
    const h = await boreDriver.open({config: {secret: 'k'}, env: e, gatewayPort: 4567, localUrl: 'http://127.0.0.1:4567', timeoutMs: 5000})
    handles.push(h)
    expect(h.publicUrl).toMatch(/^http:\/\/bore\.pub:\d+$/)
    const rec = JSON.parse(readFileSync(argvFile, 'utf8')) as {argv: string[]; secret: boolean}
    expect(rec.argv.slice(0, 2)).toEqual(['local', '4567'])
    expect(rec.argv).not.toContain('k')
    expect(rec.secret).toBe(true)
    await h.close()
    expect(groupGone(h.pid)).toBe(true)
  })

  it("fails with bore's own reason when the server is unreachable", async () => {
    const {env: e} = env({FAKE_BORE_MODE: 'unreachable'})
    const err = (await boreDriver
      .open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 5000})
      .catch((x: unknown) => x)) as TunnelFailed
    expect(err).toBeInstanceOf(TunnelFailed)
    expect(err.reason).toBe('exited')
    expect(err.message).toContain('could not connect to bore.pub:7835: timed out')
  })

  it('names a missing secret when the server requires one', async () => {
    const {env: e} = env({FAKE_BORE_SECRET: 'right'})
    const err = (await boreDriver
      .open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 5000})
      .catch((x: unknown) => x)) as TunnelFailed
    expect(err.message).toMatch(/requires authentication/)
  })

  it('times out a hang and leaves nothing behind', async () => {
    const {argvFile, env: e} = env({FAKE_BORE_MODE: 'hang'})
    const err = (await boreDriver
      .open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 2000})
      .catch((x: unknown) => x)) as TunnelFailed
    expect(err.reason).toBe('timeout')
    const {pid} = JSON.parse(readFileSync(argvFile, 'utf8')) as {pid: number}
    expect(await until(() => groupGone(pid), 3000)).toBe(true)
  })

  it('reports a later death through onExit', async () => {
    const {env: e} = env({FAKE_BORE_MODE: 'die', FAKE_DIE_AFTER_MS: '150'})
    const h = await boreDriver.open({config: {}, env: e, gatewayPort: 1, localUrl: 'http://127.0.0.1:1', timeoutMs: 5000})
    handles.push(h)
    const reason = await new Promise<string>((r) => h.onExit(r))
    expect(reason).toMatch(/connection reset by peer|exit code 1/)
  })

  it('is unavailable with an install hint without the binary', async () => {
    const a = await boreDriver.available({config: {}, env: {PATH: testPath(false)}})
    expect(a).toMatchObject({ok: false})
    if (!a.ok) expect(a.hint).toMatch(/cargo install bore-cli/)
  })
})
