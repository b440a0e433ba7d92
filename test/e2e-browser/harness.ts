// What every browser e2e test does with a real app: start a preview of it through the CLI, open the share link in
// headless Chromium, watch what the gateway refused, edit a source file and time the HMR update, stop the preview.
import {readFileSync, rmSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {chromium, type Browser, type BrowserContext, type Page} from 'playwright-core'
import {expect} from 'vitest'
import {makeAppRepo, type APPS} from '../../scripts/e2e-apps.mjs'
import {json, runCli} from '../helpers/cli.js'
import {pidsInside, portOpen, waitFor} from '../helpers/proc.js'

export const CHROMIUM = '/usr/bin/chromium'
/** How long an edit may take to reach the page through HMR. */
export const HMR_BOUND_MS = 15_000
/** The texts dev servers answer a Host or Origin they do not trust with. */
export const HOST_CHECK_ERRORS = [
  /Blocked request/i,
  /Invalid Host header/i,
  /Invalid Host\/Origin header/i,
  /Blocked cross-origin request/i,
  /allowedDevOrigins/i,
]

/** Starts headless Debian Chromium with the flags a container needs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    executablePath: CHROMIUM,
    headless: true,
  })
}

export interface PreviewRow {
  preview_id: string
  public_url: string
  share_url: string
  gateway_port: number
  port: number
  log_file: string
  status: string
}

/** A real app in a temp git repo, previewed with `preview start --auth token --provider local --cwd <repo>`. */
export class AppPreview {
  readonly repo: string
  row: PreviewRow | null = null
  /** Every gateway refusal the browser met (X-Preview-Refusal), e.g. an Origin the gateway did not accept. */
  readonly refusals: string[] = []
  /** Every WebSocket the page opened or tried to open, in order (HMR sockets). */
  readonly sockets: string[] = []
  readonly pageErrors: string[] = []
  /** Requests and sockets the page aimed somewhere other than the public origin (blocked, as a tunnel would). */
  readonly bypasses: string[] = []

  constructor(readonly app: keyof typeof APPS) {
    this.repo = makeAppRepo(app)
  }

  async start(): Promise<PreviewRow> {
    const res = await runCli(['start', '--auth', 'token', '--provider', 'local', '--cwd', this.repo, '--ready-timeout', '120s', '--json'], {
      cwd: this.repo,
      timeoutMs: 150_000,
    })
    expect(res.code, `preview start failed:\n${res.stderr}`).toBe(0)
    this.row = json<PreviewRow>(res)
    expect(this.row.status).toBe('running')
    return this.row
  }

  /** Records refusals and sockets of a page, so a test can show the HMR socket went through the gateway. */
  watch(page: Page): void {
    page.on('response', (r) => {
      const refusal = r.headers()['x-preview-refusal']
      if (refusal) this.refusals.push(`${r.status()} ${refusal} ${r.request().method()} ${new URL(r.url()).pathname}`)
    })
    page.on('websocket', (ws) => this.sockets.push(ws.url()))
    page.on('pageerror', (e) => this.pageErrors.push(String(e)))
  }

  /**
   * A browser context that, as through a tunnel, reaches only the public origin: requests and sockets aimed at
   * any other port (the dev server's own, say) fail, so nothing passes the gateway by a loopback shortcut.
   */
  async tunnelContext(browser: Browser): Promise<BrowserContext> {
    const context = await browser.newContext()
    const publicHost = new URL(this.row!.public_url).host
    const elsewhere = (url: URL) => url.host !== publicHost
    await context.route(elsewhere, async (route) => {
      this.bypasses.push(route.request().url())
      await route.abort('connectionrefused')
    })
    await context.routeWebSocket(elsewhere, (ws) => {
      this.bypasses.push(ws.url())
      this.sockets.push(ws.url())
      ws.close({code: 1006, reason: 'not the public origin'})
    })
    return context
  }

  /** A browser without the link gets the gateway's 401, not the app. */
  async expectLocked(browser: Browser): Promise<void> {
    const stranger = await browser.newContext()
    try {
      const page = await stranger.newPage()
      const response = await page.goto(`${this.row!.public_url}/`)
      expect(response?.status()).toBe(401)
      expect(response?.headers()['x-preview-refusal']).toBe('missing')
    } finally {
      await stranger.close()
    }
  }

  /** Opens the share link and checks the app loaded with the token gone from the address bar. */
  async open(context: BrowserContext, expectText: string | RegExp, timeoutMs = 90_000): Promise<Page> {
    const row = this.row!
    const page = await context.newPage()
    this.watch(page)
    const token = new URL(row.share_url).searchParams.get('token')!
    const response = await page.goto(row.share_url, {timeout: timeoutMs, waitUntil: 'load'})
    expect(response, 'no response for the share link').not.toBeNull()
    // The gateway consumed the token with a redirect: the first request was the token URL, the page is not.
    expect(response!.request().redirectedFrom()?.url()).toBe(row.share_url)
    expect(response!.status(), await response!.text()).toBe(200)
    expect(page.url()).toBe(`${row.public_url}/`)
    expect(page.url()).not.toContain(token)
    await page.getByText(expectText).first().waitFor({state: 'visible', timeout: timeoutMs})
    const body = await page.locator('body').innerText()
    for (const bad of HOST_CHECK_ERRORS) expect(body).not.toMatch(bad)
    // A mark on window survives HMR and dies with a full reload: that tells the two apart.
    await page.evaluate(() => ((window as unknown as {__previewMark: string}).__previewMark = 'kept'))
    return page
  }

  /** Waits (bounded) for the page's first WebSocket, its HMR socket, and returns its URL. */
  async hmrSocket(timeoutMs = 20_000): Promise<string> {
    await expect.poll(() => this.sockets.length, {message: 'the page opened no WebSocket (HMR)', timeout: timeoutMs}).toBeGreaterThan(0)
    return this.sockets[0]!
  }

  /** Rewrites a source file (from -> to) and returns how long until `selector` shows `shows`, failing past the bound. */
  async edit(page: Page, file: string, from: string, to: string, selector: string, shows: string): Promise<number> {
    const abs = path.join(this.repo, file)
    const before = readFileSync(abs, 'utf8')
    expect(before).toContain(from)
    const t0 = Date.now()
    writeFileSync(abs, before.replace(from, to))
    await page.locator(selector).filter({hasText: shows}).first().waitFor({state: 'visible', timeout: HMR_BOUND_MS})
    const ms = Date.now() - t0
    expect(
      await page.evaluate(() => (window as unknown as {__previewMark?: string}).__previewMark),
      'the page reloaded instead of a hot update',
    ).toBe('kept')
    return ms
  }

  /** The last lines of the dev server's log, for failure messages. */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.row!.log_file, 'utf8').split('\n').slice(-lines).join('\n')
    } catch {
      return '(no log)'
    }
  }

  /** Checks the dev server never complained about a host or origin (Next.js only logs it). */
  expectCleanLog(): void {
    const log = readFileSync(this.row!.log_file, 'utf8')
    for (const bad of HOST_CHECK_ERRORS) expect(log).not.toMatch(bad)
  }

  /** Stops the preview and checks nothing is left running in the repo and both ports are closed. */
  async stop(): Promise<void> {
    const row = this.row!
    const res = await runCli(['stop', row.preview_id, '--json'], {cwd: this.repo, timeoutMs: 60_000})
    expect(res.code, res.stderr).toBe(0)
    this.row = null
    expect(json(await runCli(['list', '--json'], {cwd: this.repo}))).toEqual([])
    expect(
      await waitFor(() => pidsInside(this.repo).length === 0, 10_000),
      `processes left in ${this.repo}: ${pidsInside(this.repo).join(' ')}`,
    ).toBe(true)
    expect(await portOpen(row.gateway_port)).toBe(false)
    expect(await portOpen(row.port)).toBe(false)
  }

  /** afterAll: stop whatever is still running (a failed test), then remove the repo. */
  async cleanup(): Promise<void> {
    await runCli(['stop', '--all'], {cwd: this.repo, timeoutMs: 60_000}).catch(() => undefined)
    rmSync(this.repo, {force: true, recursive: true})
  }
}
