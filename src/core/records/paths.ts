import path from 'node:path'

/** Every file of the .sdd tree, derived from its root. */
export interface SddPaths {
  root: string
  config: string
  worktrees: string
  runtime: string
  state: string
  logs: string
  jwtKey: string
  auditDir: string
  audit: string
  auditKey: string
}

export function sddPaths(sddDir: string): SddPaths {
  const runtime = path.join(sddDir, 'runtime', 'preview')
  const auditDir = path.join(sddDir, 'audit')
  return {
    audit: path.join(auditDir, 'preview.jsonl'),
    auditDir,
    auditKey: path.join(auditDir, '.key'),
    config: path.join(sddDir, 'preview.yaml'),
    jwtKey: path.join(runtime, 'jwt.key'),
    logs: path.join(runtime, 'logs'),
    root: sddDir,
    runtime,
    state: path.join(runtime, 'state.json'),
    worktrees: path.join(sddDir, 'worktrees'),
  }
}

export function logFile(paths: SddPaths, previewId: string): string {
  return path.join(paths.logs, `${previewId}.log`)
}
