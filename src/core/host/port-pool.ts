// Free ports picked ahead, so a new preview route knows its dev server's port at once (runner.ts RunnerSpec.port).
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
