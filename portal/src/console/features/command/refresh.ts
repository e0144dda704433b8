// Reloads a screen every `everyMs` while its page is visible: a hidden tab asks nothing of the API,
// and coming back to it after a reload fell due meanwhile reloads at once.
export interface Visibility {
  hidden(): boolean
  onChange(listener: () => void): () => void
}

export const documentVisibility: Visibility = {
  hidden: () => document.visibilityState === 'hidden',
  onChange(listener) {
    document.addEventListener('visibilitychange', listener)
    return () => document.removeEventListener('visibilitychange', listener)
  },
}

/** Starts the timer; the returned function stops it. `run` is never called twice at the same time. */
export function autoRefresh(run: () => Promise<void>, everyMs: number, visibility: Visibility = documentVisibility): () => void {
  let running = false
  let missed = false

  async function tick(): Promise<void> {
    if (visibility.hidden()) {
      missed = true
      return
    }
    if (running) return
    running = true
    missed = false
    try {
      await run()
    } finally {
      running = false
    }
  }

  const timer = setInterval(() => void tick(), everyMs)
  const stopListening = visibility.onChange(() => {
    if (!visibility.hidden() && missed) void tick()
  })
  return () => {
    clearInterval(timer)
    stopListening()
  }
}
