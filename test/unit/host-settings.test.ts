// Settings of `preview serve`: flags win over the `serve:` section (of --config FILE or .sdd/preview.yaml), which
// wins over defaults; paths in a config file are relative to it; bad values are bad input (exit 2).
import {mkdtempSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {describe, expect, it} from 'vitest'
import {resolveServeOptions} from '../../src/core/host/settings.js'

const dir = mkdtempSync(path.join(os.tmpdir(), 'serve-settings-'))
const file = (name: string, text: string) => {
  const p = path.join(dir, name)
  writeFileSync(p, text)
  return p
}

const env = {}

describe('resolveServeOptions', () => {
  it('defaults', () => {
    const o = resolveServeOptions({repos: ['.']}, {cwd: dir, env, sddConfig: null})
    expect(o).toMatchObject({
      auth: 'none',
      autoPullMs: null,
      bind: '127.0.0.1',
      domain: 'localhost',
      idleTtlMs: 300_000,
      maxRestarts: 3,
      port: 8000,
      publicScheme: 'http',
      readyTimeoutMs: 30_000,
      secret: null,
    })
    expect(o.repos).toEqual([{label: null, path: dir}])
  })

  it('--config FILE: its serve: section, paths relative to it; flags win', () => {
    const cfg = file(
      'host.yaml',
      'serve:\n  port: 9000\n  domain: Preview.Example.com\n  idle_ttl: 10m\n  auto_pull: 5m\n  repos: [app=./app, {label: docs, path: /srv/docs}]\n  persist_repos: state/repos.json\n',
    )
    const o = resolveServeOptions({config: cfg, port: 9100, repos: []}, {cwd: '/', env, sddConfig: null})
    expect(o.port).toBe(9100)
    expect(o.domain).toBe('preview.example.com')
    expect(o.idleTtlMs).toBe(600_000)
    expect(o.autoPullMs).toBe(300_000)
    expect(o.repos).toEqual([
      {label: 'app', path: path.join(dir, 'app')},
      {label: 'docs', path: '/srv/docs'},
    ])
    expect(o.persistRepos).toBe(path.join(dir, 'state', 'repos.json'))
    // repositories on the command line replace the config's list
    expect(resolveServeOptions({config: cfg, repos: ['x=/tmp/x']}, {cwd: '/', env, sddConfig: null}).repos).toEqual([
      {label: 'x', path: '/tmp/x'},
    ])
  })

  it('.sdd/preview.yaml serve: is read when there is no --config, and a file without it is fine', () => {
    expect(
      resolveServeOptions({repos: ['.']}, {cwd: dir, env, sddConfig: file('p1.yaml', 'command: x\nserve:\n  bind: 0.0.0.0\n')}).bind,
    ).toBe('0.0.0.0')
    expect(resolveServeOptions({repos: ['.']}, {cwd: dir, env, sddConfig: file('p2.yaml', 'command: x\n')}).bind).toBe('127.0.0.1')
    expect(resolveServeOptions({repos: ['.']}, {cwd: dir, env, sddConfig: path.join(dir, 'missing.yaml')}).port).toBe(8000)
  })

  it.each([
    [{idleTtl: 'soon'}, /idle-ttl/],
    [{domain: 'bad_domain'}, /not a host name/],
    [{secret: 'short'}, /too short/],
    [{auth: 'basic'}, /needs --basic-auth/],
    [{auth: 'magic'}, /none, basic or token/],
    [{publicScheme: 'ftp'}, /http or https/],
    [{repos: ['-x']}, /not a path or a git URL/],
    [{repos: ['a--b=/tmp']}, /not a usable label/],
    [{config: '/no/such.yaml'}, /does not exist/],
  ])('%o is refused as bad input', (flags, message) => {
    let caught: any
    try {
      resolveServeOptions({repos: ['.'], ...flags}, {cwd: dir, env, sddConfig: null})
    } catch (error) {
      caught = error
    }

    expect(caught?.message).toMatch(message)
    expect(caught?.exitCode).toBe(2)
  })
})
