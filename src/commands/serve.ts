// `preview serve`: the host mode, one foreground process serving any branch of the given repositories by name.
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {Host} from '../core/host/host.js'
import {resolveServeOptions} from '../core/host/settings.js'
import {CADDY_DEFAULT_ADMIN_URL} from '../core/tunnels/drivers/caddy.js'
import {PreviewManager} from '../core/preview/manager.js'
import {note} from '../cli/output.js'
import {preloadExeca} from '../core/process.js'

export interface ServeOutput {
  url: string
  domain: string
  repos: {label: string | null; path: string}[]
  stopped: true
}

export default class Serve extends BaseCommand {
  static override summary = 'Serve any branch of one or more repositories on demand, by host name (host mode).'
  static override description = `Foreground. One listener routes by Host: <ref>.<domain> for one repository, <label>.<domain> (default branch) and <label>--<ref>.<domain> with labels. The first request for a name makes its worktree, installs, starts its dev server and waits for it; idle previews stop after --idle-ttl and wake on the next request. Status at http://<domain>:<port>/-/preview (and .json, /metrics); admin API under /-/preview/repos/. SIGINT/SIGTERM stop every dev server it started.

Without --secret anyone who can reach the host can run any commit of the repositories: put it behind --secret (signed names, see \`preview sign\`) and --basic-auth when it is reachable by others.`

  static override strict = false
  // One argument declared for the help; `strict = false` takes any number of them (argv).
  static override args = {
    repos: Args.string({
      description:
        '[LABEL=]PATH or [LABEL=]GIT_URL of a repository to serve (a URL is cloned into $PREVIEW_CLONES_DIR, default ~/.cache/preview/clones); several allowed (then each gets a label, the directory or repository name by default)',
    }),
  }

  static override examples = [
    '<%= config.bin %> serve . --port 8000',
    '<%= config.bin %> serve app=~/src/app docs=~/src/docs --domain preview.example.com --secret "$PREVIEW_SERVE_SECRET" --idle-ttl 10m --auto-pull 5m',
  ]

  static override flags = {
    'admin-secret': Flags.string({
      description: 'Bearer secret for the status and admin API (without it and --basic-auth: loopback only).',
      env: 'PREVIEW_SERVE_ADMIN_SECRET',
      helpValue: 'S',
    }),
    auth: Flags.string({
      description:
        'What every preview asks for: none, basic (--basic-auth) or token (links from POST /-/preview/share). [default: basic with --basic-auth, else none]',
      options: ['none', 'basic', 'token'],
    }),
    'auto-pull': Flags.string({
      description: 'A branch not requested for this long is fetched and reset to its tip before the next request (30 s bound).',
      helpValue: 'DURATION',
    }),
    'basic-auth': Flags.string({
      description: 'USER:PASS for every route (and the admin API).',
      env: 'PREVIEW_SERVE_BASIC_AUTH',
      helpValue: 'USER:PASS',
    }),
    bind: Flags.string({description: 'Address to listen on. [default: 127.0.0.1]', helpValue: 'ADDR'}),
    caddy: Flags.boolean({
      default: false,
      description: 'Register one route for *.<domain> (and the bare domain) with a running Caddy, through its admin API; removed on stop.',
    }),
    'caddy-admin': Flags.string({description: "Caddy's admin API for --caddy. [default: http://127.0.0.1:2019]", helpValue: 'URL'}),
    config: Flags.string({
      description: 'A YAML file with a `serve:` section (else .sdd/preview.yaml of this repository).',
      helpValue: 'FILE',
    }),
    domain: Flags.string({description: 'Previews are <name>.<domain>. [default: localhost]', helpValue: 'DOMAIN'}),
    'idle-ttl': Flags.string({description: 'Stop a dev server after this long without requests. [default: 5m]', helpValue: 'DURATION'}),
    'json-logs': Flags.string({description: 'Append one JSON line per request and lifecycle event to FILE.', helpValue: 'FILE'}),
    'persist-repos': Flags.string({
      description: 'Keep the repository list (admin API changes) in FILE across restarts.',
      helpValue: 'FILE',
    }),
    'public-scheme': Flags.string({
      description: 'https when a TLS proxy is in front: the Origin browsers send, Secure cookies, printed URLs. [default: http]',
      options: ['http', 'https'],
    }),
    port: Flags.integer({description: 'Port to listen on, 0 for a free one. [default: 8000]', max: 65_535, min: 0}),
    'ready-timeout': Flags.string({description: 'How long a dev server may take to start. [default: 30s]', helpValue: 'DURATION'}),
    secret: Flags.string({
      description: 'Serve only names signed with this secret (NAME--SIG, see `preview sign`).',
      env: 'PREVIEW_SERVE_SECRET',
      helpValue: 'S',
    }),
  }

  async run(): Promise<ServeOutput> {
    const {argv, flags} = await this.parse(Serve)
    let sddConfig: string | null = null
    try {
      sddConfig = (await new PreviewManager({cwd: process.cwd()}).sddPaths()).config
    } catch {
      // not in a repository: no .sdd/preview.yaml to read
    }

    const options = resolveServeOptions(
      {
        adminSecret: flags['admin-secret'],
        auth: flags.auth,
        autoPull: flags['auto-pull'],
        basicAuth: flags['basic-auth'],
        bind: flags.bind,
        config: flags.config,
        domain: flags.domain,
        idleTtl: flags['idle-ttl'],
        jsonLogs: flags['json-logs'],
        persistRepos: flags['persist-repos'],
        port: flags.port,
        publicScheme: flags['public-scheme'],
        readyTimeout: flags['ready-timeout'],
        repos: argv as string[],
        secret: flags.secret,
      },
      {cwd: process.cwd(), env: process.env, sddConfig},
    )
    preloadExeca() // a long-lived host: its git and tool calls go through execa (see src/core/process.ts)
    const host = new Host({...options, caddyAdmin: flags.caddy ? (flags['caddy-admin'] ?? CADDY_DEFAULT_ADMIN_URL) : null})
    // The handlers stay installed: a second Ctrl-C or SIGTERM while the dev servers stop must not kill the host
    // half-way (their process groups would be left running).
    let stopping = false
    const stopped = new Promise<void>((resolve) => {
      const stop = () => {
        if (stopping) note('Already stopping: waiting for the dev servers to exit.')
        stopping = true
        resolve()
      }

      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    await host.start()
    const io = this.human()
    io.log(`Serving on ${host.url} (domain ${options.domain}); status at ${host.publicUrl(null)}-/preview`)
    for (const ex of await host.exampleNames()) io.log(`  ${ex.label ?? 'repository'}: ${ex.url}`)
    if (options.auth === 'token') {
      io.log(
        `Token links: POST ${host.publicUrl(null)}-/preview/share {"name": "<name>", "expire": "4h"} with the admin secret (see docs/serve.md).`,
      )
    }

    if (options.secret === null) note('Warning: no --secret, so anyone who can reach this host can run any commit of these repositories.')
    note('Ctrl-C (or SIGTERM) stops every dev server this host started.')
    await stopped
    await host.close()
    return {domain: options.domain, repos: host.servedRepos.map((r) => ({label: r.label, path: r.path})), stopped: true, url: host.url}
  }
}
