// A create-next-app app (App Router, Turbopack dev) through `preview start`: page, token, Fast Refresh, and a
// Server Action round trip (Next.js refuses actions whose Origin does not match the host it was forwarded for).
import type {Browser, BrowserContext} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {AppPreview, HMR_BOUND_MS, launchChromium} from './harness.js'

describe('Next.js (create-next-app) through preview', () => {
  let app: AppPreview
  let browser: Browser
  let context: BrowserContext
  beforeAll(async () => {
    app = new AppPreview('next')
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await app?.cleanup()
  })

  it('serves the app, drops the token, hot-updates an edit, runs a Server Action, and stops clean', async () => {
    const row = await app.start()
    await app.expectLocked(browser)
    context = await app.tunnelContext(browser)
    const page = await app.open(context, 'To get started, edit the')
    const socket = await app.hmrSocket()
    expect(socket).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:${row.gateway_port}/_next/`))

    const ms = await app.edit(
      page,
      'app/page.tsx',
      'To get started, edit the',
      'Edited through preview, edit the',
      'h1',
      'Edited through preview',
    )
    console.log(`next: edit reached the page by Fast Refresh in ${ms} ms`)
    expect(ms).toBeLessThan(HMR_BOUND_MS)

    // Server Action: a POST with the browser's Origin; the gateway checks it, Next.js compares it with the host.
    await page.goto(`${row.public_url}/action`, {timeout: 90_000})
    // Only a hydrated form submits through the Server Action client (the `Next-Action` fetch); before that it
    // would be a plain form post.
    await page.locator('form[data-hydrated="yes"]').waitFor({timeout: 60_000})
    const posted = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/action', {
      timeout: 60_000,
    })
    await page.locator('#text').fill('hello preview')
    await page.locator('#send').click()
    const response = await posted
    expect(response.request().headers()['next-action'], 'the POST was not a Server Action').toBeTruthy()
    expect(response.status(), app.logTail()).toBe(200)
    await expect.poll(() => page.locator('#reply').innerText(), {timeout: 30_000}).toBe('server says: HELLO PREVIEW')

    expect(app.refusals, 'requests the gateway refused').toEqual([])
    expect(app.bypasses, 'requests that went around the gateway').toEqual([])
    expect(app.pageErrors).toEqual([])
    app.expectCleanLog()
    await page.close()
    await app.stop()
  })
})
