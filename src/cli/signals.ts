// Streams (`logs --follow`, `events --follow`) run until their preview stops or the user presses Ctrl-C.

/** Runs `fn` with a signal that aborts on SIGINT/SIGTERM; the handlers are removed when it settles. */
export async function untilSignal<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController()
  const stop = () => abort.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    return await fn(abort.signal)
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
