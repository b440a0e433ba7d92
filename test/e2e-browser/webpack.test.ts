// A webpack-dev-server app (the webpack guide's setup, no host or proxy settings) through `preview start`.
import type {Browser, BrowserContext} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {AppPreview, HMR_BOUND_MS, launchChromium} from './harness.js'

describe('webpack-dev-server through preview', () => {
  let app: AppPreview
  let browser: Browser
  let context: BrowserContext
  beforeAll(async () => {
    app = new AppPreview('webpack')
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await app?.cleanup()
  })

  it('serves the app, drops the token from the address bar, hot-updates an edit, and stops clean', async () => {
    const row = await app.start()
    await app.expectLocked(browser)
    context = await app.tunnelContext(browser)
    const page = await app.open(context, 'Hello from webpack')
    const socket = await app.hmrSocket()
    // webpack-dev-server's client checks Host and Origin on its socket; through the gateway both are local. Its
    // socket URL comes from the bundle (`port=<dev port>` in the client's resource query), not from the page URL:
    // aimed at the dev server's own port, it would never reach the gateway, nor anything through a tunnel.
    expect(socket, 'the HMR socket must go to the public origin (the gateway), not the dev server port').toBe(
      `ws://127.0.0.1:${row.gateway_port}/ws`,
    )

    const ms = await app.edit(page, 'src/message.js', 'Hello from webpack', 'Hot from webpack', '#app', 'Hot from webpack')
    console.log(`webpack: edit reached the page by HMR in ${ms} ms`)
    expect(ms).toBeLessThan(HMR_BOUND_MS)
    expect(app.refusals, 'requests the gateway refused').toEqual([])
    expect(app.bypasses, 'requests that went around the gateway').toEqual([])
    expect(app.pageErrors).toEqual([])
    app.expectCleanLog()
    await page.close()
    await app.stop()
  })
})
