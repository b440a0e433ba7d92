// The edge drivers' pure parts: URL templates, Caddy settings, the upstream address, and catch-all detection.
import {describe, expect, it} from 'vitest'
import {InvalidInput, TunnelFailed} from '../../src/core/errors.js'
import {caddyRoute, caddySettings, dialAddress, shadowsHost} from '../../src/core/tunnels/drivers/caddy.js'
import {fillUrlTemplate, refLabel} from '../../src/core/tunnels/drivers/template.js'
import {selectDriver} from '../../src/core/tunnels/registry.js'
import {testPath} from '../fakes/helpers.js'

const values = {id: 'p-1a2b3c4d', port: 41234, ref: 'feature/Login_v2'}

describe('URL templates', () => {
  it('fills {port}, {id} and {ref} (a ref as one host-name label)', () => {
    expect(fillUrlTemplate('https://preview-{port}.preview.example.com', values, 's')).toBe('https://preview-41234.preview.example.com')
    expect(fillUrlTemplate('https://{id}.preview.example.com', values, 's')).toBe('https://p-1a2b3c4d.preview.example.com')
    expect(fillUrlTemplate('http://{ref}--{id}.localhost:8080/', values, 's')).toBe('http://feature-login-v2--p-1a2b3c4d.localhost:8080')
    expect(refLabel(null)).toBe('head')
    expect(refLabel('--/--')).toBe('head')
    expect(refLabel('x'.repeat(80))).toHaveLength(40)
  })

  it.each([
    ['https://preview.example.com', /neither \{port\} nor \{id\}/],
    ['https://{ref}.preview.example.com', /neither \{port\} nor \{id\}/],
    ['https://{name}-{id}.example.com', /\{name\}, which is not a placeholder/],
    ['https://{id}.example.com/app', /origin only/],
    ['ftp://{id}.example.com', /http or https/],
    ['{id}', /does not make a URL/],
  ])('refuses %s naming the setting', (template, message) => {
    const error = (() => {
      try {
        fillUrlTemplate(template, values, 'providers.template.url')
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(InvalidInput)
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).toContain('providers.template.url')
  })
})

describe('Caddy settings and routes', () => {
  it('defaults the admin API, requires url_template, checks server and upstream', () => {
    expect(caddySettings({url_template: 'https://{id}.x'})).toEqual({
      adminUrl: 'http://127.0.0.1:2019',
      server: null,
      upstream: null,
      urlTemplate: 'https://{id}.x',
    })
    expect(() => caddySettings({})).toThrow(/url_template is not set/)
    expect(() => caddySettings({admin_url: 'nope', url_template: 'https://{id}.x'})).toThrow(/admin_url "nope" is not a URL/)
    expect(() => caddySettings({server: 'a/b', url_template: 'https://{id}.x'})).toThrow(/not a server name/)
    expect(() => caddySettings({upstream: 'http://10.0.0.5', url_template: 'https://{id}.x'})).toThrow(/not a host or host:port/)
  })

  it('dials gateway.bind by default, else upstream with the port added or filled in', () => {
    expect(dialAddress(null, 'http://127.0.0.2:41234', 41234)).toBe('127.0.0.2:41234')
    expect(dialAddress(null, 'http://[::1]:41234', 41234)).toBe('[::1]:41234')
    expect(dialAddress('10.0.0.5', 'http://127.0.0.1:41234', 41234)).toBe('10.0.0.5:41234')
    expect(dialAddress('host-a.internal:{port}', 'http://127.0.0.1:41234', 41234)).toBe('host-a.internal:41234')
    expect(dialAddress('10.0.0.5:8443', 'http://127.0.0.1:41234', 41234)).toBe('10.0.0.5:8443')
    expect(dialAddress('[fd00::5]', 'http://127.0.0.1:41234', 41234)).toBe('[fd00::5]:41234')
  })

  it('sees which existing routes would answer a preview host before an appended route', () => {
    const host = 'p-1a2b3c4d.preview.example.com'
    // Answers everything: no matcher and a responder; a Caddyfile site block for the wildcard.
    expect(shadowsHost({handle: [{handler: 'static_response', status_code: 404}]}, host)).toBe(true)
    expect(shadowsHost({handle: [{handler: 'subroute'}], match: [{host: ['*.preview.example.com']}], terminal: true}, host)).toBe(true)
    expect(shadowsHost({handle: [{handler: 'file_server'}], match: [{host: ['P-1A2B3C4D.preview.example.com']}]}, host)).toBe(true)
    // Does not: other hosts, a wildcard one label off, partial matchers, pass-through handlers, other previews.
    expect(shadowsHost({handle: [{handler: 'static_response'}], match: [{host: ['*.example.com']}]}, host)).toBe(false)
    expect(shadowsHost({handle: [{handler: 'static_response'}], match: [{host: ['www.example.com']}], terminal: true}, host)).toBe(false)
    expect(
      shadowsHost({handle: [{handler: 'static_response'}], match: [{host: ['*.preview.example.com'], path: ['/admin/*']}]}, host),
    ).toBe(false)
    expect(shadowsHost({handle: [{handler: 'headers'}]}, host)).toBe(false)
    expect(shadowsHost(caddyRoute('preview-p-99999999', 'p-99999999.preview.example.com', '127.0.0.1:1'), host)).toBe(false)
  })
})

describe('auto and the edges', () => {
  it('auto never picks template or caddy, even when both are configured and nothing else is installed', async () => {
    const providers = {
      caddy: {url_template: 'https://{id}.preview.example.com'},
      template: {url: 'https://preview-{port}.preview.example.com'},
    }
    const result = await selectDriver('auto', {PATH: testPath(false)}, providers).catch((e: unknown) => e)
    if (result instanceof TunnelFailed) {
      expect(result.details.join('\n')).toMatch(/template, caddy: explicit only/)
    } else {
      // The cloudflared npm package may ship a binary of its own; then auto is (rightly) satisfied by it.
      expect((result as {name: string}).name).toBe('cloudflared')
    }
  })
})
