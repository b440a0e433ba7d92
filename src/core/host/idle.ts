// Idle stops of `preview serve`: every runner is asked to stop once nothing reached it for --idle-ttl, and an open
// WebSocket (an HMR socket: someone has the preview open) keeps its preview awake.
import type {RouteTable} from './routes.js'
import type {HostState} from './state.js'

/** How often idle previews are looked for (at most; shorter for short TTLs). */
const IDLE_CHECK_MS = 1000

/** Starts the idle checks (unref'd: they never keep the process alive); clear the timer to stop them. */
export function startIdleChecks(state: HostState, routes: RouteTable): NodeJS.Timeout {
  const every = Math.min(IDLE_CHECK_MS, Math.max(100, state.opts.idleTtlMs / 4))
  const timer = setInterval(() => checkIdle(state, routes), every)
  timer.unref()
  return timer
}

function checkIdle(state: HostState, routes: RouteTable): void {
  const open = new Set<ReturnType<RouteTable['bindingOf']>>()
  for (const c of state.listener?.connections() ?? []) {
    const route = c.currentRoute
    if (c.upgraded && route) open.add(routes.bindingOf(route))
  }

  for (const binding of open) binding?.runner?.keepAwake()
  for (const runner of state.runners.values()) {
    runner.checkIdle(state.opts.idleTtlMs).catch((error: unknown) => runner.event(`idle stop failed: ${(error as Error).message}`))
  }
}
