import {existsSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {connect} from 'node:net'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {TunnelFailed} from '../../src/core/errors.js'
import {scanSsh, sshArgs, sshDriver, sshSettings, sshTemplateUrl} from '../../src/core/tunnels/drivers/ssh.js'
import type {TunnelHandle} from '../../src/core/tunnels/types.js'
import {fixture, groupGone, until} from '../fakes/helpers.js'
import {freePort, SSHD_BIN, startSshd, type Sshd} from '../fakes/sshd.js'

describe('ssh output parser (real output)', () => {
  it('localhost.run: the tunnel URL, not the banner links', () => {
    const s = scanSsh(fixture('ssh-localhost-run.txt'))
    expect(s.url).toBe('https://47970a65005227.lhr.life')
    expect(s.urlFinal).toBe(true)
  })

  it('sish: prefers the HTTPS line over the HTTP line', () => {
    const s = scanSsh(fixture('ssh-sish.txt'))
    expect(s.url).toBe('https://app.mydomain.com:444')
    expect(s.urlFinal).toBe(true)
    const httpOnly = scanSsh(fixture('ssh-sish.txt').slice(0, 4))
    expect(httpOnly.url).toBe('http://app.mydomain.com:81')
    expect(httpOnly.urlFinal).toBe(false)
  })

  it('OpenSSH: Allocated port N; denial and refusal are errors', () => {
    expect(scanSsh(fixture('ssh-openssh-allocated.txt'))).toMatchObject({allocatedPort: 37769, error: null, url: null})
    expect(scanSsh(fixture('ssh-openssh-denied.txt')).error).toMatch(/Permission denied \(publickey\)/)
    expect(scanSsh(fixture('ssh-openssh-refused.txt')).error).toMatch(/Connection refused/)
  })

  it('builds argv with our must-have options first and validates config', () => {
    const s = sshSettings({destination: 'me@example.com', identity_file: '/k', port: 2222, ssh_options: ['StrictHostKeyChecking=yes']})
    const args = sshArgs(s, 4000)
    expect(args.slice(0, 4)).toEqual(['-N', '-T', '-R', '0:127.0.0.1:4000'])
    expect(args.indexOf('BatchMode=yes')).toBeLessThan(args.indexOf('StrictHostKeyChecking=yes'))
    expect(args.indexOf('StrictHostKeyChecking=yes')).toBeLessThan(args.indexOf('StrictHostKeyChecking=accept-new'))
    expect(args.slice(-2)).toEqual(['--', 'me@example.com'])
    expect(() => sshSettings({destination: '-oProxyCommand=x'})).toThrow(/not a user@host/)
    expect(() => sshSettings({destination: 'a@b', ssh_options: ['-v']})).toThrow(/Key=Value/)
    expect(() => sshSettings({})).toThrow(/destination/)
    expect(sshTemplateUrl('http://{host}:{port}', '::1', 80)).toBe('http://[::1]:80')
  })
})

// A real sshd is required where CI is set; on a laptop without it the suite is skipped with a message.
const haveSshd = existsSync(SSHD_BIN)
if (!haveSshd && !process.env.CI) console.warn(`tunnels-ssh: ${SSHD_BIN} not found; skipping the real-sshd tests (install openssh-server)`)

describe.skipIf(!haveSshd && !process.env.CI)('ssh driver against a real sshd on loopback', () => {
  let sshd: Sshd
  let gateway: Server
  let gatewayPort = 0
  const handles: TunnelHandle[] = []

  beforeAll(async () => {
    if (!haveSshd) throw new Error(`${SSHD_BIN} is missing but CI is set: install openssh-server`)
    sshd = await startSshd()
    // Stands in for the auth gateway: a page with a valid token, 401 without.
    gateway = createServer((req, res) => {
      const ok = new URL(req.url ?? '/', 'http://x').searchParams.get('token') === 'valid-token'
      res.writeHead(ok ? 200 : 401, {'content-type': 'text/plain'}).end(ok ? 'page through ssh' : 'unauthorized')
    })
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', () => r()))
    gatewayPort = (gateway.address() as {port: number}).port
  })

  afterEach(async () => {
    for (const h of handles.splice(0)) await h.close()
  })

  afterAll(async () => {
    gateway?.close()
    await sshd?.stop()
  })

  const config = (extra: Record<string, unknown> = {}) => ({
    destination: `${sshd.user}@127.0.0.1`,
    identity_file: sshd.identityFile,
    port: sshd.port,
    ssh_options: ['StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null'],
    ...extra,
  })

  it('forwards an allocated remote port to the gateway; a page needs the token; close() leaves nothing', async () => {
    expect(await sshDriver.available({config: config(), env: process.env})).toMatchObject({ok: true})
    const h = await sshDriver.open({
      config: config(),
      env: process.env,
      gatewayPort,
      localUrl: `http://127.0.0.1:${gatewayPort}`,
      timeoutMs: 15_000,
    })
    handles.push(h)
    expect(h.publicUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(h.publicUrl).not.toBe(`http://127.0.0.1:${gatewayPort}`)
    const ok = await fetch(`${h.publicUrl}/page?token=valid-token`)
    expect(ok.status).toBe(200)
    expect(await ok.text()).toBe('page through ssh')
    const refused = await fetch(`${h.publicUrl}/page`)
    expect(refused.status).toBe(401)
    await h.close()
    expect(groupGone(h.pid)).toBe(true)
    const port = Number(new URL(h.publicUrl).port)
    const connectable = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    expect(connectable).toBe(false)
  })

  it('uses a fixed remote_port with url_template', async () => {
    const remote = await freePort()
    const h = await sshDriver.open({
      config: config({remote_port: remote, url_template: 'http://{host}:{port}/'}),
      env: process.env,
      gatewayPort,
      localUrl: `http://127.0.0.1:${gatewayPort}`,
      timeoutMs: 15_000,
    })
    handles.push(h)
    expect(h.publicUrl).toBe(`http://127.0.0.1:${remote}/`)
    expect((await fetch(`${h.publicUrl}?token=valid-token`)).status).toBe(200)
  })

  it("fails with ssh's own reason when the key is refused, leaving no process", async () => {
    const err = (await sshDriver
      .open({
        config: config({
          identity_file: sshd.wrongIdentityFile,
          ssh_options: ['StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null', 'IdentitiesOnly=yes'],
        }),
        env: process.env,
        gatewayPort,
        localUrl: 'http://127.0.0.1:1',
        timeoutMs: 15_000,
      })
      .catch((x: unknown) => x)) as TunnelFailed
    expect(err).toBeInstanceOf(TunnelFailed)
    expect(err.message).toMatch(/Permission denied/)
  })

  it('reports the tunnel dying when the server goes away (onExit)', async () => {
    const own = await startSshd()
    const h = await sshDriver.open({
      config: {...config(), identity_file: own.identityFile, port: own.port},
      env: process.env,
      gatewayPort,
      localUrl: `http://127.0.0.1:${gatewayPort}`,
      timeoutMs: 15_000,
    })
    handles.push(h)
    const reason = new Promise<string>((r) => h.onExit(r))
    await own.stop()
    expect(await Promise.race([reason, new Promise<string>((r) => setTimeout(() => r('no exit reported'), 10_000))])).toMatch(/ssh exited/)
    expect(await until(() => groupGone(h.pid), 5000)).toBe(true)
  })
})
