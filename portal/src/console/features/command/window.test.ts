import { describe, expect, it } from 'vitest'
import { DEFAULT_WINDOW, parseWindow, shanghaiDay, windowQuery, windowRange } from './window'

// 2026-11-26 23:30 in Shanghai is still the 26th there, already 15:30 UTC.
const NOW = new Date('2026-11-26T15:30:00Z')

describe('windowRange', () => {
  it('starts today at midnight in Shanghai, not in UTC', () => {
    expect(windowRange({ preset: 'today' }, NOW)).toEqual({ from: '2026-11-26T00:00:00+08:00', to: '2026-11-26T15:30:00.000Z' })
    // Just after midnight in Shanghai the day has turned although UTC is still on the day before.
    const early = new Date('2026-11-26T16:05:00Z')
    expect(windowRange({ preset: 'today' }, early).from).toBe('2026-11-27T00:00:00+08:00')
  })
  it('counts 7 and 30 days with today as the last, across a month end', () => {
    expect(windowRange({ preset: '7d' }, NOW).from).toBe('2026-11-20T00:00:00+08:00')
    expect(windowRange({ preset: '30d' }, NOW).from).toBe('2026-10-28T00:00:00+08:00')
    expect(windowRange({ preset: '30d' }, NOW).to).toBe(NOW.toISOString())
  })
  it('covers a custom range of whole days, its last day included', () => {
    expect(windowRange({ preset: 'custom', from: '2026-02-27', to: '2026-02-28' }, NOW)).toEqual({
      from: '2026-02-27T00:00:00+08:00',
      to: '2026-03-01T00:00:00+08:00',
    })
  })
})

describe('the window in the URL', () => {
  it('reads presets and custom ranges back from what it wrote', () => {
    for (const window of [{ preset: 'today' }, { preset: '7d' }, { preset: 'custom', from: '2026-11-01', to: '2026-11-20' }] as const) {
      expect(parseWindow({ node: '12', ...windowQuery(window) })).toEqual(window)
    }
  })
  it('falls back to the default on anything malformed', () => {
    expect(parseWindow({})).toEqual(DEFAULT_WINDOW)
    expect(parseWindow({ window: 'year' })).toEqual(DEFAULT_WINDOW)
    expect(parseWindow({ window: 'custom', from: '2026-11-20', to: '2026-11-01' })).toEqual(DEFAULT_WINDOW)
    expect(parseWindow({ window: 'custom', from: '2026-02-30', to: '2026-03-01' })).toEqual(DEFAULT_WINDOW)
    expect(parseWindow({ window: 'custom', from: ['2026-11-01'], to: '2026-11-02' })).toEqual(DEFAULT_WINDOW)
  })
  it('names the Shanghai day of an instant', () => {
    expect(shanghaiDay(new Date('2026-12-31T16:00:00Z'))).toBe('2027-01-01')
  })
})
