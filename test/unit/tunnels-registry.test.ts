import {describe, expect, it} from 'vitest'
import {TunnelFailed} from '../../src/core/errors.js'
import {PROVIDERS} from '../../src/core/records/types.js'
import {AUTO_ORDER, getDriver, selectDriver} from '../../src/core/tunnels/registry.js'
import {testPath} from '../fakes/helpers.js'

describe('tunnel registry', () => {
  it('has a driver for every provider', () => {
    for (const p of PROVIDERS) expect(getDriver(p).name).toBe(p)
    expect(() => getDriver('nope')).toThrow(/Unknown provider/)
  })

  it('auto picks the first available in order (cloudflared when the fake is on PATH)', async () => {
    const d = await selectDriver('auto', {PATH: testPath(true)}, {})
    expect(d.name).toBe('cloudflared')
  })

  it('auto with nothing installed fails naming each provider and suggesting --provider local', async () => {
    const err = (await selectDriver('auto', {PATH: testPath(false)}, {}).catch((x: unknown) => x)) as TunnelFailed
    // The cloudflared npm package may ship a binary of its own; then auto is (rightly) satisfied.
    if (!(err instanceof TunnelFailed)) return expect((err as {name: string}).name).toBe('cloudflared')
    expect(err.reason).toBe('binary-missing')
    for (const p of AUTO_ORDER) expect(err.details.some((l) => l.startsWith(`${p}:`))).toBe(true)
    expect(err.details.join('\n')).toMatch(/NGROK_AUTHTOKEN/)
    expect(err.details.join('\n')).toMatch(/localtunnel/)
    expect(err.details.join('\n')).toMatch(/ssh/)
    expect(err.hint).toMatch(/--provider local/)
  })
})
