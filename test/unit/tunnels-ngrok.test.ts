import {describe, expect, it} from 'vitest'
import {TunnelFailed} from '../../src/core/errors.js'
import {ngrokAdvice, ngrokDriver} from '../../src/core/tunnels/drivers/ngrok.js'

describe('ngrok driver', () => {
  it('is unavailable without NGROK_AUTHTOKEN and says so', async () => {
    const a = await ngrokDriver.available({config: {}, env: {}})
    expect(a).toMatchObject({ok: false})
    if (!a.ok) expect(a.hint).toMatch(/NGROK_AUTHTOKEN/)
    expect(await ngrokDriver.available({config: {}, env: {NGROK_AUTHTOKEN: 'x'}})).toMatchObject({ok: true})
  })

  it('open() without a token fails not-configured naming NGROK_AUTHTOKEN', async () => {
    const err = (await ngrokDriver
      .open({config: {}, env: {}, gatewayPort: 1, localUrl: 'http://127.0.0.1:1'})
      .catch((x: unknown) => x)) as TunnelFailed
    expect(err).toBeInstanceOf(TunnelFailed)
    expect(err.reason).toBe('not-configured')
    expect(err.message).toMatch(/NGROK_AUTHTOKEN/)
  })

  it('maps ERR_NGROK codes to advice, from the field or the message', () => {
    expect(ngrokAdvice({errorCode: 'ERR_NGROK_105'}).advice).toMatch(/malformed/)
    expect(ngrokAdvice({message: 'failed to connect session\n\nERR_NGROK_108'}).code).toBe('ERR_NGROK_108')
    expect(ngrokAdvice({errorCode: 'ERR_NGROK_999'}).advice).toMatch(/ngrok\.com\/docs\/errors\/err-ngrok-999/)
    expect(ngrokAdvice(new Error('socket hang up')).code).toBeNull()
  })
})
