// The supervisor's view of its own links: what state.json says, unless what it says cannot be read.
import type {LinkRecord, PreviewRow} from './types.js'
import {describeProblem, type RowProblem} from './state-schema.js'

/** The problems of one row's `links` (the field itself or one of its entries). */
export function linkProblems(problems: readonly RowProblem[], id: string): RowProblem[] {
  return problems.filter((p) => p.preview_id === id && (p.field === 'links' || p.field.startsWith('links[')))
}

/**
 * The last links read cleanly, and what to serve after each read of state.json. When the row's links are
 * wrong-shaped (`links: null`, an entry without a jti), the links already held are kept, with the readable
 * entries of the new value laid over them by jti (so a revocation written next to a broken entry still
 * applies); the caller then writes that back so other readers (status, revoke) see them again.
 */
export class LastGoodLinks {
  private good: LinkRecord[] = []
  private reported = ''

  constructor(
    private readonly id: string,
    private readonly log: (text: string) => void,
  ) {}

  /** The links now held (the supervisor's own writes set them). */
  get links(): LinkRecord[] {
    return this.good
  }

  set links(links: LinkRecord[]) {
    this.good = links
  }

  /** After a read: the links to serve, and whether the row's links must be put back (they were not readable). */
  take(row: PreviewRow, problems: readonly RowProblem[]): {links: LinkRecord[]; repair: boolean} {
    const bad = linkProblems(problems, this.id)
    this.report(problems.filter((p) => p.preview_id === this.id))
    if (bad.length === 0) {
      this.good = row.links
      return {links: row.links, repair: false}
    }

    this.good = this.merge(row.links)
    return {links: this.good, repair: true}
  }

  /** The links held, with `readable` (the entries that could be read) laid over them by jti. */
  merge(readable: readonly LinkRecord[]): LinkRecord[] {
    const byJti = new Map(this.good.map((l) => [l.jti, l]))
    for (const l of readable) byJti.set(l.jti, l)
    return [...byJti.values()]
  }

  /** Logs the problems of this row once per distinct set (state.json is read on every change). */
  private report(mine: readonly RowProblem[]): void {
    const text = mine.map((p) => describeProblem(p)).join('; ')
    if (text === this.reported) return
    this.reported = text
    if (text) this.log(`state.json has wrong-shaped fields, ignored (last good value kept): ${text}`)
  }
}
