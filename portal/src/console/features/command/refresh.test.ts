import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { autoRefresh, type Visibility } from './refresh'

function fakeVisibility(): Visibility & { set(hidden: boolean): void } {
  let hidden = false
  const listeners = new Set<() => void>()
  return {
    hidden: () => hidden,
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    set(value) {
      hidden = value
      listeners.forEach((listener) => listener())
    },
  }
}

describe('autoRefresh', () => {
  beforeEach(() => void vi.useFakeTimers())
  afterEach(() => void vi.useRealTimers())

  it('reloads every interval while visible and stops when told', async () => {
    const run = vi.fn(async () => undefined)
    const stop = autoRefresh(run, 60_000, fakeVisibility())
    await vi.advanceTimersByTimeAsync(59_999)
    expect(run).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(run).toHaveBeenCalledTimes(2)
    stop()
    await vi.advanceTimersByTimeAsync(120_000)
    expect(run).toHaveBeenCalledTimes(2)
  })

  it('asks nothing while hidden and catches up at once when shown again', async () => {
    const run = vi.fn(async () => undefined)
    const visibility = fakeVisibility()
    autoRefresh(run, 60_000, visibility)
    visibility.set(true)
    await vi.advanceTimersByTimeAsync(180_000)
    expect(run).not.toHaveBeenCalled()
    visibility.set(false)
    expect(run).toHaveBeenCalledTimes(1)
    // A short hide in between two reloads does not reload.
    visibility.set(true)
    visibility.set(false)
    expect(run).toHaveBeenCalledTimes(1)
  })

  it('never runs twice at the same time', async () => {
    let finish = (): void => undefined
    const run = vi.fn(() => new Promise<void>((resolve) => (finish = resolve)))
    autoRefresh(run, 1_000, fakeVisibility())
    await vi.advanceTimersByTimeAsync(3_000)
    expect(run).toHaveBeenCalledTimes(1)
    finish()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(run).toHaveBeenCalledTimes(2)
  })
})
