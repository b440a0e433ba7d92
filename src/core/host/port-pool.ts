// Free ports picked ahead for new previews' dev servers (runner.ts RunnerSpec.port; a runner keeps its port across
// wakes and restarts). They once kept the upstream Host right before a start; the gateway now builds request heads
// after the route's ensureUpstream, for the port the runner found, so a runner could as well pick its own.
import {freePort} from './runner.js'

/** Ports kept picked ahead for new previews. */
const PORT_POOL = 4

export class PortPool {
  private readonly ports: number[] = []
  private refilling = false

  /** `closed`: the host is stopping (no more ports are picked). */
  constructor(private readonly closed: () => boolean) {}

  async refill(): Promise<void> {
    if (this.refilling) return
    this.refilling = true
    try {
      while (this.ports.length < PORT_POOL && !this.closed()) this.ports.push(await freePort())
    } finally {
      this.refilling = false
    }
  }

  /** A port picked ahead, or undefined when none is (the runner then picks its own at spawn). */
  take(): number | undefined {
    const port = this.ports.shift()
    this.refill().catch(() => {}) // no port picked ahead: the runner picks its own at spawn
    return port
  }
}
