// Prometheus counters of `preview serve` (GET /-/preview/metrics), by repository label: requests, starts, wake-ups,
// restarts, auto-pulls, idle stops and crashes, plus the previews running now.
import {Counter, Gauge, Registry} from 'prom-client'
import type {RunnerEvent} from './runner.js'

/** The label value of the one repository of single-repository mode. */
const NO_LABEL = 'default'

export class HostMetrics {
  readonly registry = new Registry()
  private readonly requests = new Counter({
    help: 'Requests answered, by repository label and status class.',
    labelNames: ['label', 'code'],
    name: 'preview_serve_requests_total',
    registers: [this.registry],
  })
  private readonly events = {
    crash: new Counter({
      help: 'Previews that crashed past the restart limit.',
      labelNames: ['label'],
      name: 'preview_serve_crashes_total',
      registers: [this.registry],
    }),
    idle: new Counter({
      help: 'Dev servers stopped for being idle.',
      labelNames: ['label'],
      name: 'preview_serve_idle_stops_total',
      registers: [this.registry],
    }),
    pull: new Counter({
      help: 'Auto-pulls that moved a branch.',
      labelNames: ['label'],
      name: 'preview_serve_pulls_total',
      registers: [this.registry],
    }),
    restart: new Counter({
      help: 'Crash restarts.',
      labelNames: ['label'],
      name: 'preview_serve_restarts_total',
      registers: [this.registry],
    }),
    start: new Counter({
      help: 'Previews started on demand (first request).',
      labelNames: ['label'],
      name: 'preview_serve_starts_total',
      registers: [this.registry],
    }),
    wake: new Counter({
      help: 'Idle previews woken by a request.',
      labelNames: ['label'],
      name: 'preview_serve_wakeups_total',
      registers: [this.registry],
    }),
  } satisfies Record<RunnerEvent, Counter>

  readonly running = new Gauge({
    help: 'Dev servers running now.',
    labelNames: ['label'],
    name: 'preview_serve_running',
    registers: [this.registry],
  })

  request(label: string | null, status: number): void {
    this.requests.inc({code: status === 0 ? 'none' : `${Math.floor(status / 100)}xx`, label: label ?? NO_LABEL})
  }

  event(event: RunnerEvent, label: string | null): void {
    this.events[event].inc({label: label ?? NO_LABEL})
  }

  /** The exposition text; `running` per label is set from the runners just before. */
  async render(running: Map<string | null, number>): Promise<string> {
    this.running.reset()
    for (const [label, n] of running) this.running.set({label: label ?? NO_LABEL}, n)
    return this.registry.metrics()
  }
}
