// The static-site server on a real socket: serves the tree, hides what a worktree must not show, and prints a
// line port capture reads.
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {request} from 'node:http'
import os from 'node:os'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {isHiddenPath, serveStatic, startupLine} from '../../src/core/discovery/static-server.js'
import {parsePortLine} from '../../src/core/discovery/port-capture.js'

let root: string
let outside: string
let server: {url: string; close: () => Promise<void>}
beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'static-'))
  writeFileSync(path.join(root, 'index.html'), '<h1>home</h1>')
  writeFileSync(path.join(root, 'style.css'), 'h1{}')
  writeFileSync(path.join(root, '.env'), 'SECRET=1')
  mkdirSync(path.join(root, '.git'))
  writeFileSync(path.join(root, '.git', 'config'), '[core]')
  mkdirSync(path.join(root, '.well-known'))
  writeFileSync(path.join(root, '.well-known', 'security.txt'), 'Contact: x')
  mkdirSync(path.join(root, 'docs'))
  writeFileSync(path.join(root, 'docs', 'index.html'), '<h1>docs</h1>')
  // Links out of the tree (a file and a directory), and one that stays inside.
  outside = mkdtempSync(path.join(os.tmpdir(), 'static-outside-'))
  writeFileSync(path.join(outside, 'secret.txt'), 'OUTSIDE')
  symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'leak.html'))
  symlinkSync(outside, path.join(root, 'elsewhere'))
  symlinkSync(path.join(root, 'style.css'), path.join(root, 'alias.css'))
  server = await serveStatic(root, 0)
})
afterAll(async () => {
  await server.close()
  rmSync(root, {force: true, recursive: true})
  rmSync(outside, {force: true, recursive: true})
})

/** GET with the path sent exactly as given (fetch would normalise `..` and `%2e`). */
function get(rawPath: string): Promise<{status: number; body: string; type: string}> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}/`, {path: rawPath}, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({body, status: res.statusCode ?? 0, type: String(res.headers['content-type'])}))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('static-server', () => {
  it('listens on 127.0.0.1 and serves index.html, files and directory indexes', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(await get('/')).toMatchObject({body: '<h1>home</h1>', status: 200, type: 'text/html;charset=utf-8'})
    expect(await get('/style.css')).toMatchObject({body: 'h1{}', status: 200, type: 'text/css'})
    expect(await get('/docs/')).toMatchObject({body: '<h1>docs</h1>', status: 200})
    expect((await get('/missing.html')).status).toBe(404)
  })

  it('an edit shows on the next request (no index built at start)', async () => {
    writeFileSync(path.join(root, 'style.css'), 'h1{color:red}')
    expect((await get('/style.css')).body).toBe('h1{color:red}')
    writeFileSync(path.join(root, 'new.txt'), 'added later')
    expect((await get('/new.txt')).body).toBe('added later')
  })

  it.each(['/.env', '/.git/config', '/%2egit/config', '/%2Eenv', '/docs/../.env', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f.env'])(
    '%s is 404',
    async (p) => {
      const res = await get(p)
      expect(res.status).toBe(404)
      expect(res.body).not.toContain('SECRET')
      expect(res.body).not.toContain('[core]')
    },
  )

  it.each(['/leak.html', '/leak', '/elsewhere/secret.txt', '/elsewhere/'])('%s (a symlink out of the tree) is 404', async (p) => {
    const res = await get(p)
    expect(res.status).toBe(404)
    expect(res.body).not.toContain('OUTSIDE')
  })

  it('a symlink that stays inside the tree is served', async () => {
    expect((await get('/alias.css')).status).toBe(200)
  })

  it('/.well-known/ is served', async () => {
    expect(await get('/.well-known/security.txt')).toMatchObject({body: 'Contact: x', status: 200})
    expect(isHiddenPath('/.well-known/x')).toBe(false)
    expect(isHiddenPath('/a/.hidden/b?x=1')).toBe(true)
    expect(isHiddenPath('/a.b/c.d?next=/.env')).toBe(false)
  })

  it('its startup line is read by port capture as the server address', () => {
    const line = startupLine('http://127.0.0.1:43123', '/srv/site')
    expect(parsePortLine(line)).toMatchObject({host: '127.0.0.1', port: 43123, url: 'http://127.0.0.1:43123'})
  })
})
