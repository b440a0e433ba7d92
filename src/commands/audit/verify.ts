// `preview audit verify`: checks the audit log's HMAC chain and names the first bad entry.
import {BaseCommand} from '../../cli/base-command.js'
import {errorBody} from '../../cli/render-error.js'
import {PreviewError} from '../../core/errors.js'
import {type AuditBadEntry, verifyAudit} from '../../core/records/audit-verify.js'
import {PreviewManager} from '../../core/preview/manager.js'
import {resultJson} from '../../cli/output.js'

export interface AuditVerifyOutput {
  ok: boolean
  entries: number
  first_bad: AuditBadEntry | null
}

/** The chain is broken: carries the verify result so --json can still print {ok, entries, first_bad}. */
export class AuditBroken extends PreviewError {
  readonly output: AuditVerifyOutput
  constructor(file: string, output: AuditVerifyOutput) {
    const bad = output.first_bad
    const where = bad?.seq === null || bad === null ? '' : ` at seq ${bad.seq}`
    super('AUDIT_BROKEN', `The audit log ${file} is broken${where} (${bad?.problem ?? 'unknown'}): ${bad?.message ?? ''}`, {
      hint: 'Keep a copy of the log as evidence; entries before the first bad seq are intact. Start a new log by moving the file away.',
      kind: 'runtime',
    })
    this.output = output
  }
}

export default class AuditVerify extends BaseCommand {
  static override summary = 'Verify the tamper-evident audit log.'
  static override description =
    'Recomputes the HMAC of every entry and checks the chain (seq, prev). Exits 0 with the entry count when the log is intact, 1 naming the first bad seq and what was done to it (edited, deleted, reordered, inserted, forged, malformed).'

  static override examples = ['<%= config.bin %> audit verify', '<%= config.bin %> audit verify --json']

  async run(): Promise<AuditVerifyOutput> {
    await this.parse(AuditVerify)
    const paths = await new PreviewManager({cwd: process.cwd()}).sddPaths()
    const result = verifyAudit(paths)
    const output: AuditVerifyOutput = {entries: result.entries, first_bad: result.firstBad ?? null, ok: result.ok}
    if (!result.ok) throw new AuditBroken(paths.audit, output)
    this.human().log(`Audit log intact: ${result.entries} ${result.entries === 1 ? 'entry' : 'entries'} (${paths.audit}).`)
    return output
  }

  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    // In JSON mode a broken log is still a verify result, not only an error.
    if (err instanceof AuditBroken && this.jsonEnabled()) {
      resultJson({...err.output, error: errorBody(err)})
      this.exit(err.exitCode)
    }

    return super.catch(err)
  }
}
