// The life of one preview's dev server, as one state field with its legal moves in one table. Used by the
// detached supervisor (supervisor.ts) and by each preview of `preview serve` (host/runner.ts).
//
//   starting ──> running <──> idle          running/idle ──> restarting ──> running
//      │            │           │           (crash restart, `preview restart`, idle wake, auto-pull)
//      └──────┬─────┴─────┬─────┘
//             v           v
//          stopping ──> stopped ──> starting   (a host preview starts again on its next request)
//
// `stopped` is also reached straight from starting/running/restarting when the dev server gave up by itself
// (a start or restart that failed, the restart limit) and there is nothing else to tear down: host previews,
// which stay routable and start again. The detached supervisor always stops through `stopping`.
// `restarting` goes back to `idle` when an idle wake failed: the next request tries again.

export type PreviewState = 'starting' | 'running' | 'idle' | 'restarting' | 'stopping' | 'stopped'

export const PREVIEW_STATES: readonly PreviewState[] = ['starting', 'running', 'idle', 'restarting', 'stopping', 'stopped']

/** Where each state may go next. */
export const TRANSITIONS: Readonly<Record<PreviewState, readonly PreviewState[]>> = {
  idle: ['restarting', 'stopping'],
  restarting: ['running', 'idle', 'stopping', 'stopped'],
  running: ['idle', 'restarting', 'stopping', 'stopped'],
  starting: ['running', 'stopping', 'stopped'],
  stopped: ['starting'],
  stopping: ['stopped'],
}

/** A move the table does not allow: a bug in the caller, never bad input. */
export class IllegalTransition extends Error {
  constructor(
    readonly owner: string,
    readonly from: PreviewState,
    readonly to: PreviewState,
  ) {
    super(
      `internal error: ${owner}: illegal state transition ${from} -> ${to} (allowed from ${from}: ${TRANSITIONS[from].join(', ') || 'none'})`,
    )
    this.name = 'IllegalTransition'
  }
}

export function canMove(from: PreviewState, to: PreviewState): boolean {
  return TRANSITIONS[from].includes(to)
}

export type StateListener = (from: PreviewState, to: PreviewState) => void

/** One preview's state: read with `is()`/`current`, changed only through `to()`, which checks the table. */
export class StateMachine {
  private state: PreviewState
  private readonly listeners = new Set<StateListener>()

  constructor(
    /** Names the preview in the error of an illegal move. */
    private readonly owner: string,
    initial: PreviewState,
  ) {
    this.state = initial
  }

  get current(): PreviewState {
    return this.state
  }

  /** True when the state is one of `states` (a method, so TypeScript does not narrow the field across awaits). */
  is(...states: PreviewState[]): boolean {
    return states.includes(this.state)
  }

  /** Moves to `next`; throws IllegalTransition if the table does not allow it. Listeners hear it after the move. */
  to(next: PreviewState): void {
    const from = this.state
    if (!canMove(from, next)) throw new IllegalTransition(this.owner, from, next)
    this.state = next
    for (const listener of this.listeners) listener(from, next)
  }

  /** Calls `listener` on every move (debug logs, tests); returns the unsubscribe. */
  observe(listener: StateListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
