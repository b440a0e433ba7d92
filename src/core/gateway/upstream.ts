// The dev server side of a gateway connection: the upstream socket, connected on the first write (after the
// route's ensureUpstream hook, when it has one: idle wake-up, on-demand start), what waits for that connect, and
// backpressure from it to the client. Connection (connection.ts) is the rest of the pump and answers its events.
import net from 'node:net'
import type {Route} from './types.js'

export const enum Mode {
  Head,
  Body,
  UpgradePending,
  Tunnel,
  /** A refusal waits for the responses the dev server still owes (pipelining), then goes out and the connection closes. */
  Draining,
  Closed,
}

/**
 * What waits for the upstream connect while ensureUpstream runs: bytes as they came, or a thunk run at the connect
 * (a request head built then, an observer call, the client's end passed on) returning the bytes to send, if any.
 */
export type Queued = Buffer | string | (() => string | null)

export abstract class UpstreamSide {
  protected mode = Mode.Head
  protected upstream: net.Socket | null = null
  private upstreamPort = 0
  protected queued: Queued[] | null = null
  /** A request went upstream and no byte of its response came back yet. */
  protected awaitingResponse = false
  protected route: Route | null = null

  constructor(protected readonly client: net.Socket) {}

  abstract destroy(): void
  protected abstract fail(status: number, message: string): void
  /** ensureUpstream threw: the dev server could not be started. */
  protected abstract wakeFailed(): void
  protected abstract finishDrain(): void
  protected abstract boundHalfClose(): void
  protected abstract onUpstreamData(data: Buffer): void
  /** The link that let the queued requests in still holds now (a wake can outlast an expiry or a revocation). */
  protected abstract grantStillHolds(): boolean

  protected toUpstream(data: Buffer | string): void {
    if (this.queued !== null) {
      this.queued.push(data)
      return
    }

    if (this.upstream === null) {
      const ensure = this.route?.ensureUpstream
      if (ensure !== undefined) {
        this.wakeUpstream(ensure, data)
        return
      }

      this.upstream = this.openUpstream()
    }

    // Heads are latin1 strings: written as latin1, every byte goes upstream as it came (obs-text included).
    if (!(typeof data === 'string' ? this.upstream.write(data, 'latin1') : this.upstream.write(data))) this.client.pause()
  }

  /** A head built at the connect: queued behind the wake in progress, or the first thing a new wake holds. */
  protected queueHead(build: () => string): void {
    if (this.queued !== null) this.queued.push(build)
    else this.wakeUpstream(this.route!.ensureUpstream!, build)
  }

  /** Idle wake-up (or an on-demand start): hold writes and reads until the dev server is up, then connect. */
  private wakeUpstream(ensure: () => Promise<void>, first: Queued): void {
    const queued: Queued[] = [first]
    this.queued = queued
    this.client.pause()
    ensure().then(
      () => {
        if (this.mode === Mode.Closed) return
        // Checked again here, not only by the sweep's next tick: a link that expired or was revoked during the wake
        // lets nothing through, and the queued requests are dropped with the connection.
        if (!this.grantStillHolds()) {
          this.queued = null
          this.destroy()
          return
        }

        const up = this.openUpstream()
        this.upstream = up
        this.queued = null
        for (const item of queued) {
          const d = typeof item === 'function' ? item() : item
          if (typeof d === 'string') up.write(d, 'latin1')
          else if (d !== null) up.write(d)
        }

        if (this.mode !== Mode.Draining) this.client.resume()
      },
      () => {
        this.queued = null
        this.wakeFailed()
      },
    )
  }

  protected detachUpstream(): void {
    const up = this.upstream
    this.upstream = null
    if (up) {
      up.removeAllListeners()
      up.on('error', () => {})
      up.destroy()
    }
  }

  private openUpstream(): net.Socket {
    const port = this.route!.targetPort
    this.upstreamPort = port
    const up = net.connect({host: '127.0.0.1', noDelay: true, port})
    up.on('data', (data: Buffer) => this.onUpstreamData(data))
    up.on('drain', () => this.client.resume())
    up.on('end', () => {
      if (this.mode === Mode.Draining) return this.finishDrain()
      if (this.mode !== Mode.Closed) this.client.end()
      this.boundHalfClose()
    })
    up.on('error', () => {
      if (this.mode === Mode.Draining) return this.finishDrain()
      if (this.awaitingResponse && this.mode !== Mode.Closed) {
        this.upstream = null
        this.fail(502, `The dev server on port ${this.upstreamPort} did not answer.`)
      } else {
        this.destroy()
      }
    })
    up.on('close', () => {
      if (this.mode === Mode.Draining) return this.finishDrain()
      // The pair lives and dies together; an orderly end was already passed on.
      if (this.mode !== Mode.Closed && !this.client.writableEnded) this.client.end()
    })
    return up
  }
}
