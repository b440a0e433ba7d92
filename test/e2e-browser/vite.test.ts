// A create-vite React app, unmodified, through `preview start` in headless Chromium: page, token, HMR, stop.
import type {Browser, BrowserContext} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {AppPreview, HMR_BOUND_MS, launchChromium} from './harness.js'

describe('Vite (create-vite, react template) through preview', () => {
  let app: AppPreview
  let browser: Browser
  let context: BrowserContext
  beforeAll(async () => {
    app = new AppPreview('vite')
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
    const page = await app.open(context, 'Get started')
    const socket = await app.hmrSocket()
    // Vite's HMR socket goes through the gateway and keeps its own ?token= (Vite's, not ours).
    expect(socket).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${row.gateway_port}/\\?token=`))

    const ms = await app.edit(
      page,
      'src/App.jsx',
      '<h1>Get started</h1>',
      '<h1>Edited through preview</h1>',
      'h1',
      'Edited through preview',
    )
    console.log(`vite: edit reached the page by HMR in ${ms} ms`)
    expect(ms).toBeLessThan(HMR_BOUND_MS)
    expect(app.refusals, 'requests the gateway refused').toEqual([])
    expect(app.bypasses, 'requests that went around the gateway').toEqual([])
    expect(app.pageErrors).toEqual([])
    app.expectCleanLog()
    await page.close()
    await app.stop()
  })
})
