// `preview metrics`: the Prometheus exposition of counters derived from the audit log, printed or served.
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {InvalidInput} from '../core/errors.js'
import {MetricsReader, serveMetrics} from '../core/records/metrics.js'
import {PreviewManager} from '../core/preview/manager.js'
import {note} from '../cli/output.js'

const DEFAULT_HOST = '127.0.0.1'
/** 9464: the port OpenTelemetry's Prometheus exporter uses, free of the usual dev-server ports. */
const DEFAULT_PORT = 9464

/** One series of a metric: its labels and value. */
export interface MetricSample {
  labels: Record<string, string | number>
  value: number
}

/** A metric as data: prom-client's own JSON view of the registry the exposition is printed from. */
export interface MetricData {
  name: string
  help: string
  type: string
  values: MetricSample[]
}

export type MetricsOutput = {exposition: string; metrics: MetricData[]} | {url: string; served: true}

export default class Metrics extends BaseCommand {
  static override summary = 'Print (or serve) Prometheus metrics derived from the audit log.'
  static override description =
    'Counts over .sdd/audit/preview.jsonl: preview_started_total{provider,auth_mode}, preview_stopped_total{reason}, preview_link_issued_total{auth_mode} and the gauge preview_active. With --serve, answers GET /metrics until interrupted, reading only what the log gained since the last scrape.'

  static override examples = [
    '<%= config.bin %> metrics',
    '<%= config.bin %> metrics --serve',
    '<%= config.bin %> metrics --serve --host 127.0.0.1 --port 9464',
  ]

  static override flags = {
    // No oclif defaults: a default would make "--port without --serve" undetectable.
    host: Flags.string({description: 'With --serve: address to listen on. [default: 127.0.0.1]', helpValue: 'ADDR'}),
    port: Flags.integer({description: 'With --serve: port to listen on, 0 for a free one. [default: 9464]', max: 65_535, min: 0}),
    serve: Flags.boolean({default: false, description: 'Serve /metrics for a scraper until SIGINT/SIGTERM.'}),
  }

  async run(): Promise<MetricsOutput> {
    const {flags} = await this.parse(Metrics)
    const paths = await new PreviewManager({cwd: process.cwd()}).sddPaths()
    if (!flags.serve) {
      if (flags.host !== undefined || flags.port !== undefined) {
        throw new InvalidInput('--host and --port only apply with --serve.', 'Run `preview metrics --serve --port 9464`.')
      }

      const reader = new MetricsReader(paths)
      const exposition = await reader.exposition()
      this.human().log(exposition.trimEnd())
      const metrics = (await reader.metrics.registry.getMetricsAsJSON()).map((m) => ({
        help: m.help,
        name: m.name,
        type: String(m.type),
        values: m.values.map((v) => ({labels: {...v.labels} as Record<string, string | number>, value: v.value})),
      }))
      return {exposition, metrics}
    }

    const server = await serveMetrics({host: flags.host ?? DEFAULT_HOST, paths, port: flags.port ?? DEFAULT_PORT})
    // The address is progress, not the result: stderr, and in --json mode too.
    note(`Serving Prometheus metrics at ${server.url}/metrics (Ctrl-C to stop).`)
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop)
        process.off('SIGTERM', stop)
        resolve()
      }

      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    await server.close()
    return {served: true, url: server.url}
  }
}
