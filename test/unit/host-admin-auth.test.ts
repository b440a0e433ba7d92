// Who may use the host's status and admin API: the admin secret, the basic credentials, or (with neither set) only
// requests made on this machine, never ones a reverse proxy relays from elsewhere.
import type http from 'node:http'
import {describe, expect, it} from 'vitest'
import {adminAllowed} from '../../src/core/host/http.js'

const req = (headers: Record<string, string>) => ({headers}) as unknown as http.IncomingMessage
const host = (adminSecret: string | null, basicAuth: string | null) =>
  ({opts: {adminSecret, basicAuth}}) as Parameters<typeof adminAllowed>[0]
const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`

describe('adminAllowed', () => {
  it('without secrets: a loopback peer only, and not when a proxy relayed the request', () => {
    const open = host(null, null)
    expect(adminAllowed(open, req({'x-forwarded-for': '127.0.0.1'}))).toBe(true)
    expect(adminAllowed(open, req({'x-forwarded-for': '::1'}))).toBe(true)
    expect(adminAllowed(open, req({'x-forwarded-for': '192.168.1.7'}))).toBe(false)
    // what the gateway sends when Caddy/nginx on this box relayed a remote client
    expect(adminAllowed(open, req({'x-forwarded-for': '203.0.113.9, 127.0.0.1'}))).toBe(false)
    expect(adminAllowed(open, req({forwarded: 'for=203.0.113.9', 'x-forwarded-for': '127.0.0.1'}))).toBe(false)
    expect(adminAllowed(open, req({'x-forwarded-for': '127.0.0.1', 'x-real-ip': '203.0.113.9'}))).toBe(false)
  })

  it('with an admin secret: the exact Bearer, from anywhere; loopback alone is not enough', () => {
    const h = host('s3cret-admin', null)
    expect(adminAllowed(h, req({authorization: 'Bearer s3cret-admin', 'x-forwarded-for': '203.0.113.9'}))).toBe(true)
    expect(adminAllowed(h, req({authorization: 'Bearer s3cret-admi', 'x-forwarded-for': '127.0.0.1'}))).toBe(false)
    expect(adminAllowed(h, req({'x-forwarded-for': '127.0.0.1'}))).toBe(false)
  })

  it('with basic credentials: exactly those', () => {
    const h = host(null, 'preview:pw')
    expect(adminAllowed(h, req({authorization: basic('preview:pw')}))).toBe(true)
    expect(adminAllowed(h, req({authorization: basic('preview:pwx')}))).toBe(false)
    expect(adminAllowed(h, req({authorization: 'Bearer pw'}))).toBe(false)
  })
})
