import { describe, expect, it } from 'vitest'
import { addDays, dayLabel, dayOf, spanOf, timeOf } from './when'

describe('days and times on the community clock', () => {
  it('reads a UTC instant in Asia/Shanghai', () => {
    expect(timeOf('2026-11-26T01:30:00Z')).toBe('09:30')
    expect(dayOf('2026-11-26T17:00:00Z')).toBe('2026-11-27')
  })
  it('moves a day across a month end', () => {
    expect(addDays('2026-11-30', 1)).toBe('2026-12-01')
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28')
  })
  it('names a day in each language', () => {
    expect(dayLabel('2026-11-26', 'en')).toBe('Thu 11/26')
    expect(dayLabel('2026-11-26', 'zh-CN')).toBe('周四 11/26')
  })
  it('writes a span, the end day only when it differs', () => {
    expect(spanOf('2026-11-29T01:00:00Z', '2026-11-29T03:00:00Z')).toBe('11/29 09:00–11:00')
    expect(spanOf('2026-11-29T01:00:00Z', '2026-11-30T03:00:00Z')).toBe('11/29 09:00–11/30 11:00')
  })
})
