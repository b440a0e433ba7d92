// The shape of a state.json row, checked field by field with valibot, so one wrong-shaped field costs that
// field (a safe default in its place) and never the row, the file, or the supervisor that reads it.
// valibot rather than zod or ajv: it is small, and its issues name what a field should have been.
// Every command reads state.json, and `list` reads every row: a quick predicate per shape answers for the values
// that are well-formed (nearly all of them), and valibot is loaded and asked only about a value that fails it, so
// the issue and its wording are valibot's. Each predicate accepts only what its schema accepts
// (test/unit/state-schema-quick.test.ts checks the pairs agree); on a well-formed file valibot never loads.
import {createRequire} from 'node:module'
import type * as V from 'valibot'
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
/** A link's documented members, in the schema's order (valibot's output lists them first, then any others). */
const LINK_KEYS = ['jti', 'auth_mode', 'created_at_epoch', 'expires_at_epoch', 'password_sha256', 'revoked'] as const

/** The shapes of the fields, as valibot schemas (built on first use, when valibot is loaded). */
function buildSchemas(v: typeof V) {
  const epoch = v.pipe(v.number(), v.finite(), v.minValue(0))
  const pid = v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1)))
  const nullableString = v.nullable(v.string())
  return {
    authMode: v.picklist(AUTH_MODES),
    backend: v.picklist(BACKENDS),
    count: v.pipe(v.number(), v.integer(), v.minValue(0)),
    epoch,
    // jti first: valibot reports members in this order, and the jti is what names a link. Extra fields are allowed
    // (ARCHITECTURE.md).
    link: v.looseObject({
      jti: v.pipe(v.string(), v.minLength(1)),
      auth_mode: v.picklist(AUTH_MODES),
      created_at_epoch: v.optional(epoch),
      expires_at_epoch: epoch,
      password_sha256: v.optional(v.string()),
      revoked: v.boolean(),
    }),
    /** Any non-empty string: `preview` makes p- and 8 hex, but a row is found by whatever id it has. */
    nonEmptyString: v.pipe(v.string(), v.nonEmpty()),
    nullableString,
    optionalNullableNumber: v.optional(v.nullable(v.pipe(v.number(), v.finite()))),
    optionalNullableString: v.optional(nullableString),
    optionalPid: v.optional(pid),
    optionalString: v.optional(v.string()),
    pid,
    port: v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65_535))),
    status: v.picklist(STATUSES),
    string: v.string(),
  }
}

type Shape = keyof ReturnType<typeof buildSchemas>

let loaded: {v: typeof V; schemas: ReturnType<typeof buildSchemas>} | undefined
/** valibot and the schemas, loaded synchronously (readers are synchronous) on the first value a predicate refuses. */
function valibot(): NonNullable<typeof loaded> {
  if (!loaded) {
    const v = createRequire(import.meta.url)('valibot') as typeof V
    loaded = {schemas: buildSchemas(v), v}
  }

  return loaded
}

const isEpoch = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0
const isPid = (x: unknown) => x === null || (Number.isInteger(x) && (x as number) >= 1)
const isString = (x: unknown) => typeof x === 'string'
const isNullableString = (x: unknown) => x === null || typeof x === 'string'

/**
 * Each shape as a predicate that accepts exactly what its schema does (or less: a refused value goes to valibot,
 * which has the last word). Number.isInteger and Number.isFinite are false for NaN and non-numbers, as v.number() is.
 */
export const QUICK: Record<Shape, (x: unknown) => boolean> = {
  authMode: (x) => (AUTH_MODES as readonly unknown[]).includes(x),
  backend: (x) => (BACKENDS as readonly unknown[]).includes(x),
  count: (x) => Number.isInteger(x) && (x as number) >= 0,
  epoch: isEpoch,
  link: (x) => {
    // Plain objects only (valibot also takes arrays and class instances, and answers for them itself).
    if (x === null || typeof x !== 'object' || Object.getPrototypeOf(x) !== Object.prototype) return false
    const l = x as Record<string, unknown>
    return (
      typeof l.jti === 'string' &&
      l.jti.length >= 1 &&
      QUICK.authMode(l.auth_mode) &&
      (l.created_at_epoch === undefined || isEpoch(l.created_at_epoch)) &&
      isEpoch(l.expires_at_epoch) &&
      (l.password_sha256 === undefined || isString(l.password_sha256)) &&
      typeof l.revoked === 'boolean'
    )
  },
  nonEmptyString: (x) => typeof x === 'string' && x.length > 0,
  nullableString: isNullableString,
  optionalNullableNumber: (x) => x === undefined || x === null || (typeof x === 'number' && Number.isFinite(x)),
  optionalNullableString: (x) => x === undefined || isNullableString(x),
  optionalPid: (x) => x === undefined || isPid(x),
  optionalString: (x) => x === undefined || isString(x),
  pid: isPid,
  port: (x) => x === null || (Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 65_535),
  status: (x) => (STATUSES as readonly unknown[]).includes(x),
  string: isString,
}

/** What valibot's looseObject gives for a link QUICK.link accepted: the documented members first, then the rest. */
export function linkAsParsed(link: Record<string, unknown>): LinkRecord {
  const out: Record<string, unknown> = {}
  for (const key of LINK_KEYS) if (key in link) out[key] = link[key]
  for (const key of Object.keys(link)) {
    if ((LINK_KEYS as readonly string[]).includes(key) || key === '__proto__' || key === 'prototype' || key === 'constructor') continue
    out[key] = link[key]
  }

  return out as unknown as LinkRecord
}

/** A value checked against a shape: null when it has it, else valibot's issues. */
function issuesOf(shape: Shape, value: unknown): readonly V.BaseIssue<unknown>[] | null {
  if (QUICK[shape](value)) return null
  const {schemas, v} = valibot()
  const result = v.safeParse(schemas[shape], value)
  return result.success ? null : result.issues
}

/** Shapes tests can check against their schemas: the predicate and valibot's own answer (and output). */
export function schemaAnswer(shape: Shape, value: unknown): {success: boolean; output: unknown} {
  const {schemas, v} = valibot()
  const result = v.safeParse(schemas[shape], value)
  return {output: result.output, success: result.success}
}

export const SHAPES = Object.keys(QUICK) as Shape[]

interface FieldRule {
  shape: Shape
  /** What a reader gets instead of a bad value: the choice that grants nothing and signals nothing. */
  fallback: () => unknown
}

/**
 * Every documented field, with what stands in for a bad value. The fallbacks err towards "nothing to do":
 * no pid (never signal a number we cannot trust), no port, status crashed, auth token, expired, no links (a
 * link that cannot be read is not honoured). Worktrees are never freed on a default: see readStateForCleanup.
 */
const FIELDS: Record<string, FieldRule> = {
  auth_mode: {fallback: () => 'token', shape: 'authMode'},
  command: {fallback: () => '', shape: 'string'},
  commit: {fallback: () => null, shape: 'optionalNullableString'},
  created_at_epoch: {fallback: () => 0, shape: 'epoch'},
  cwd: {fallback: () => '', shape: 'string'},
  expires_at_epoch: {fallback: () => 0, shape: 'epoch'},
  gateway_port: {fallback: () => null, shape: 'port'},
  log_file: {fallback: () => undefined, shape: 'optionalString'},
  port: {fallback: () => null, shape: 'port'},
  process_pid: {fallback: () => null, shape: 'pid'},
  process_start_time: {fallback: () => null, shape: 'optionalNullableNumber'},
  public_url: {fallback: () => null, shape: 'nullableString'},
  ref: {fallback: () => null, shape: 'optionalNullableString'},
  restarts: {fallback: () => 0, shape: 'count'},
  sandbox_backend: {fallback: () => 'cwd', shape: 'backend'},
  sandbox_session_id: {fallback: () => null, shape: 'nullableString'},
  share_url: {fallback: () => null, shape: 'nullableString'},
  status: {fallback: () => 'crashed', shape: 'status'},
  supervisor_pid: {fallback: () => null, shape: 'pid'},
  supervisor_start_time: {fallback: () => null, shape: 'optionalNullableNumber'},
  tunnel_name: {fallback: () => null, shape: 'nullableString'},
  tunnel_pid: {fallback: () => null, shape: 'optionalPid'},
  // Shown, never acted on: any name, so a row written by a newer driver (template, caddy) is not flagged.
  tunnel_provider: {fallback: () => 'local', shape: 'nonEmptyString'},
  tunnel_start_time: {fallback: () => null, shape: 'optionalNullableNumber'},
}

/** FIELDS as a list, each with its predicate: checkRow walks it for every row. */
const FIELD_LIST = Object.entries(FIELDS).map(([field, rule]) => ({field, quick: QUICK[rule.shape], ...rule}))

function expectedOf(issues: readonly V.BaseIssue<unknown>[]): string {
  return issues[0]?.expected ?? 'another shape'
}

/** `.jti` for an issue inside a link object: says which member was wrong. */
function subPath(issues: readonly V.BaseIssue<unknown>[]): string {
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
  const idIssues = issuesOf('nonEmptyString', input.preview_id)
  if (idIssues) return {problems: [{expected: expectedOf(idIssues), field: 'preview_id', preview_id: null, row: index}], row: null}
  const previewId = input.preview_id as string
  const problems: RowProblem[] = []
  const row: Record<string, unknown> = {...input}
  for (const {field, quick, shape, fallback} of FIELD_LIST) {
    const value = input[field]
    if (quick(value)) continue
    const issues = issuesOf(shape, value)
    if (!issues) continue
    problems.push({expected: expectedOf(issues), field, preview_id: previewId, row: index})
    const stand = fallback()
    if (stand === undefined) delete row[field]
    else row[field] = stand
  }

  if (Array.isArray(input.links)) {
    const links: LinkRecord[] = []
    for (const [i, link] of input.links.entries()) {
      if (QUICK.link(link)) {
        links.push(linkAsParsed(link as Record<string, unknown>))
        continue
      }

      const {schemas, v} = valibot()
      const result = v.safeParse(schemas.link, link)
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
