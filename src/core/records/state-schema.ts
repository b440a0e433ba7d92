// The shape of a state.json row, checked field by field with valibot, so one wrong-shaped field costs that
// field (a safe default in its place) and never the row, the file, or the supervisor that reads it.
// valibot rather than zod or ajv: it is small and loads in about 10 ms, and every command reads state.json.
import * as v from 'valibot'
import {AUTH_MODES, type LinkRecord, type PreviewRow} from './types.js'

/** One field of one row that did not have the documented shape. Never carries the value (it may be a secret). */
export interface RowProblem {
  /** The row's preview_id, or null when that is what cannot be read. */
  preview_id: string | null
  /** Index of the row in `previews`. */
  row: number
  /** `links`, `links[2].jti`, `port`, ...: where the bad value is. */
  field: string
  /** What the field should have been, in valibot's words (e.g. `Array`, `string`, `>=0`). */
  expected: string
}

const STATUSES = ['starting', 'running', 'idle', 'stopping', 'crashed'] as const
const BACKENDS = ['worktree', 'cwd', 'attached'] as const

const count = v.pipe(v.number(), v.integer(), v.minValue(0))
const epoch = v.pipe(v.number(), v.finite(), v.minValue(0))
const port = v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65_535)))
const pid = v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1)))
const optionalNullableNumber = v.optional(v.nullable(v.pipe(v.number(), v.finite())))
const nullableString = v.nullable(v.string())

/** Any non-empty string: `preview` makes p- and 8 hex, but a row is found by whatever id it has. */
export const PREVIEW_ID = v.pipe(v.string(), v.nonEmpty())

/** A link as `share` and `start` write it; extra fields are allowed (ARCHITECTURE.md). */
// jti first: valibot reports members in this order, and the jti is what names a link.
const LINK = v.looseObject({
  jti: v.pipe(v.string(), v.minLength(1)),
  auth_mode: v.picklist(AUTH_MODES),
  created_at_epoch: v.optional(epoch),
  expires_at_epoch: epoch,
  password_sha256: v.optional(v.string()),
  revoked: v.boolean(),
})

interface FieldRule {
  schema: v.GenericSchema
  /** What a reader gets instead of a bad value: the choice that grants nothing and signals nothing. */
  fallback: () => unknown
}

/**
 * Every documented field, with what stands in for a bad value. The fallbacks err towards "nothing to do":
 * no pid (never signal a number we cannot trust), no port, status crashed, auth token, expired, no links (a
 * link that cannot be read is not honoured). Worktrees are never freed on a default: see readStateForCleanup.
 */
const FIELDS: Record<string, FieldRule> = {
  auth_mode: {fallback: () => 'token', schema: v.picklist(AUTH_MODES)},
  command: {fallback: () => '', schema: v.string()},
  commit: {fallback: () => null, schema: v.optional(nullableString)},
  created_at_epoch: {fallback: () => 0, schema: epoch},
  cwd: {fallback: () => '', schema: v.string()},
  expires_at_epoch: {fallback: () => 0, schema: epoch},
  gateway_port: {fallback: () => null, schema: port},
  log_file: {fallback: () => undefined, schema: v.optional(v.string())},
  port: {fallback: () => null, schema: port},
  process_pid: {fallback: () => null, schema: pid},
  process_start_time: {fallback: () => null, schema: optionalNullableNumber},
  public_url: {fallback: () => null, schema: nullableString},
  ref: {fallback: () => null, schema: v.optional(nullableString)},
  restarts: {fallback: () => 0, schema: count},
  sandbox_backend: {fallback: () => 'cwd', schema: v.picklist(BACKENDS)},
  sandbox_session_id: {fallback: () => null, schema: nullableString},
  share_url: {fallback: () => null, schema: nullableString},
  status: {fallback: () => 'crashed', schema: v.picklist(STATUSES)},
  supervisor_pid: {fallback: () => null, schema: pid},
  supervisor_start_time: {fallback: () => null, schema: optionalNullableNumber},
  tunnel_name: {fallback: () => null, schema: nullableString},
  tunnel_pid: {fallback: () => null, schema: v.optional(pid)},
  // Shown, never acted on: any name, so a row written by a newer driver (template, caddy) is not flagged.
  tunnel_provider: {fallback: () => 'local', schema: v.pipe(v.string(), v.nonEmpty())},
  tunnel_start_time: {fallback: () => null, schema: optionalNullableNumber},
}

function expectedOf(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues[0]?.expected ?? 'another shape'
}

/** `.jti` for an issue inside a link object: says which member was wrong. */
function subPath(issues: readonly v.BaseIssue<unknown>[]): string {
  const key = issues[0]?.path?.[0]?.key
  return typeof key === 'string' ? `.${key}` : ''
}

/** The top-level field a problem is in: `links` for `links[2].jti`. */
export function topField(p: RowProblem): string {
  return p.field.replace(/[[.].*$/, '')
}

export type CheckedRow = {row: PreviewRow; problems: RowProblem[]} | {row: null; problems: RowProblem[]}

/**
 * Checks one raw row. A row that is not an object, or has no preview_id string, cannot be told
 * apart from any other: it comes back as null (the caller keeps it on disk untouched). Otherwise every bad
 * field is replaced by its fallback, every bad link dropped, and each one named in `problems`.
 */
export function checkRow(raw: unknown, index: number): CheckedRow {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return {problems: [{expected: 'Object', field: '', preview_id: null, row: index}], row: null}
  }

  const input = raw as Record<string, unknown>
  const id = v.safeParse(PREVIEW_ID, input.preview_id)
  if (!id.success) return {problems: [{expected: expectedOf(id.issues), field: 'preview_id', preview_id: null, row: index}], row: null}
  const previewId = id.output
  const problems: RowProblem[] = []
  const row: Record<string, unknown> = {...input}
  for (const [field, rule] of Object.entries(FIELDS)) {
    const result = v.safeParse(rule.schema, input[field])
    if (result.success) continue
    problems.push({expected: expectedOf(result.issues), field, preview_id: previewId, row: index})
    const fallback = rule.fallback()
    if (fallback === undefined) delete row[field]
    else row[field] = fallback
  }

  if (Array.isArray(input.links)) {
    const links: LinkRecord[] = []
    for (const [i, link] of input.links.entries()) {
      const result = v.safeParse(LINK, link)
      if (result.success) links.push(result.output as LinkRecord)
      else
        problems.push({
          expected: expectedOf(result.issues),
          field: `links[${i}]${subPath(result.issues)}`,
          preview_id: previewId,
          row: index,
        })
    }

    row.links = links
  } else {
    problems.push({expected: 'Array', field: 'links', preview_id: previewId, row: index})
    row.links = []
  }

  return {problems, row: row as PreviewRow}
}

/** One line for a log: which field of which row, and what it should be (never the value). */
export function describeProblem(p: RowProblem): string {
  const where = p.preview_id ? `row ${p.preview_id}` : `row ${p.row}`
  return p.field ? `${where}: ${p.field} is not ${p.expected}` : `${where} is not ${p.expected}`
}
