import { describe, expect, it } from 'vitest'
import { addDays, localDay, localTime, mondayOf, toInstant, toLocalInput } from './wallClock'

describe('the wall clock', () => {
  it('reads and writes Asia/Shanghai times whatever the browser is set to', () => {
    expect(toInstant('2026-12-01T09:30')?.toISOString()).toBe('2026-12-01T01:30:00.000Z')
    expect(toInstant('2026-12-01')?.toISOString()).toBe('2026-11-30T16:00:00.000Z')
    expect(toInstant('tomorrow')).toBeNull()
    expect(toLocalInput('2026-12-01T01:30:00Z')).toBe('2026-12-01T09:30')
    expect(localDay('2026-11-30T17:00:00Z')).toBe('2026-12-01')
    expect(localTime('2026-11-30T17:00:00Z')).toBe('01:00')
  })
  it('finds the Monday of a week across months and years', () => {
    expect(mondayOf('2026-12-03')).toBe('2026-11-30')
    expect(mondayOf('2026-11-30')).toBe('2026-11-30')
    expect(mondayOf('2027-01-03')).toBe('2026-12-28')
    expect(addDays('2026-12-28', 7)).toBe('2027-01-04')
  })
})
