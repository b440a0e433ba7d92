// The ssh provider end to end: `preview start --provider ssh` against a real sshd on loopback, the real gateway behind it.
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {groupGone} from '../fakes/helpers.js'
import {SSHD_BIN, startSshd, type Sshd} from '../fakes/sshd.js'
import {json, runCli} from '../helpers/cli.js'
import {portOpen, waitFor} from '../helpers/proc.js'
import {makeRepo, type TempRepo} from '../helpers/repo.js'

const haveSshd = existsSync(SSHD_BIN)
if (!haveSshd && !process.env.CI) console.warn(`ssh-cli: ${SSHD_BIN} not found; skipping (install openssh-server)`)

describe.skipIf(!haveSshd && !process.env.CI)('preview start --provider ssh (real sshd)', () => {
  let sshd: Sshd
  let repo: TempRepo
  beforeAll(async () => {
    if (!haveSshd) throw new Error(`${SSHD_BIN} is missing but CI is set: install openssh-server`)
    sshd = await startSshd()
    repo = makeRepo()
    mkdirSync(path.join(repo.dir, '.sdd'), {recursive: true})
    writeFileSync(
      path.join(repo.dir, '.sdd', 'preview.yaml'),
      [
        'providers:',
        '  ssh:',
        `    destination: ${sshd.user}@127.0.0.1`,
        `    port: ${sshd.port}`,
        `    identity_file: ${sshd.identityFile}`,
        '    ssh_options: [StrictHostKeyChecking=no, UserKnownHostsFile=/dev/null]',
        '',
      ].join('\n'),
    )
  })
  afterAll(async () => {
    await runCli(['stop', '--all'], {cwd: repo.dir})
    repo.cleanup()
    await sshd?.stop()
  })

  it('serves a page through the ssh-forwarded port with a valid token, refuses it without; stop ends ssh', async () => {
    const start = await runCli(['start', '--provider', 'ssh', '--cwd', '.', '--command', 'node server.js', '--json'], {cwd: repo.dir})
    expect(start.code, start.stderr).toBe(0)
    const row = json(start)
    expect(row.tunnel_provider).toBe('ssh')
    const forwarded = Number(new URL(row.public_url).port)
    expect(row.public_url).toBe(`http://127.0.0.1:${forwarded}`)
    expect(forwarded).not.toBe(row.gateway_port)

    expect((await fetch(row.public_url)).status).toBe(401)
    const first = await fetch(row.share_url, {redirect: 'manual'})
    expect(first.status).toBe(302)
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!
    const page = await fetch(row.public_url, {headers: {cookie}})
    expect(page.status).toBe(200)
    expect(await page.text()).toContain(`hello from the app host=localhost:${row.port}`)

    expect((await runCli(['stop', row.preview_id], {cwd: repo.dir})).code).toBe(0)
    expect(await waitFor(() => groupGone(row.tunnel_pid), 5000)).toBe(true)
    expect(await waitFor(async () => !(await portOpen(forwarded)), 5000)).toBe(true)
  })
})
