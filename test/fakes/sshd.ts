// A real OpenSSH server on loopback for the ssh driver tests: temp host and user keys, temp config, own group.
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {userInfo} from 'node:os'
import path from 'node:path'
import {killGroup, processTree, run, spawnGroup} from '../../src/core/process.js'
import {onLines} from '../../src/core/tunnels/util.js'
import {tmp} from './helpers.js'

export const SSHD_BIN = process.env.SSHD_BIN ?? '/usr/sbin/sshd'

export interface Sshd {
  port: number
  user: string
  identityFile: string
  /** A key the server does not accept. */
  wrongIdentityFile: string
  dir: string
  log: string[]
  stop(): Promise<void>
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  const port = (srv.address() as {port: number}).port
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

/** Starts `sshd -D -e` with its own keys on a free loopback port; resolves once it listens. */
export async function startSshd(): Promise<Sshd> {
  const dir = tmp('sshd-')
  const keygen = async (name: string) => {
    const r = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path.join(dir, name)], {
      cwd: dir,
      timeoutMs: 10_000,
    })
    if (r.exitCode !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`)
  }

  await keygen('host_key')
  await keygen('user_key')
  await keygen('other_key')
  const {readFileSync} = await import('node:fs')
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(path.join(dir, 'user_key.pub')), {mode: 0o600})
  const user = userInfo().username
  const isRoot = process.getuid?.() === 0
  // sshd started as root insists on its privilege-separation directory; Debian creates it at boot only.
  if (isRoot && !existsSync('/run/sshd')) mkdirSync('/run/sshd', {mode: 0o755, recursive: true})
  const port = await freePort()
  const config = [
    `ListenAddress 127.0.0.1`,
    `HostKey ${path.join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'UsePAM no',
    'AllowTcpForwarding yes',
    'GatewayPorts no',
    'PidFile none',
    `AllowUsers ${user}`,
  ].join('\n')
  const cfg = path.join(dir, 'sshd_config')
  writeFileSync(cfg, config + '\n')
  const child = spawnGroup(SSHD_BIN, ['-D', '-e', '-f', cfg, '-p', String(port)], {cwd: dir, env: process.env})
  const log: string[] = []
  const listening = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start within 10s:\n${log.join('\n')}`)), 10_000)
    onLines(child.stderr, (line) => {
      log.push(line)
      if (/Server listening on/.test(line)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`sshd exited (${code}):\n${log.join('\n')}`))
    })
  })
  try {
    await listening
  } catch (error) {
    await killGroup(child.pid, {graceMs: 500})
    throw error
  }

  return {
    dir,
    identityFile: path.join(dir, 'user_key'),
    log,
    port,
    // Per-connection sshd processes call setsid() and leave the listener's group: take the whole tree.
    async stop() {
      await killGroup(child.pid, {extraPids: child.pid ? processTree(child.pid) : [], graceMs: 1000})
    },
    user,
    wrongIdentityFile: path.join(dir, 'other_key'),
  }
}
