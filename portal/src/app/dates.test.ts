import { describe, expect, it } from 'vitest'
import { fromLocalInput, hoursFromNow, toLocalInput } from './dates'

describe('picker times', () => {
  it('round-trips a local time through the picker text', () => {
    const at = new Date(2026, 4, 1, 9, 30)
    expect(toLocalInput(at)).toBe('2026-05-01T09:30')
    expect(fromLocalInput(toLocalInput(at))).toBe(at.toISOString())
  })

  it('gives null for nothing or nonsense', () => {
    expect(fromLocalInput('')).toBeNull()
    expect(fromLocalInput('soon')).toBeNull()
  })

  it('counts hours ahead on the minute', () => {
    const now = new Date(2026, 0, 1, 10, 15, 42, 500)
    expect(hoursFromNow(2, now)).toEqual(new Date(2026, 0, 1, 12, 15))
  })
})
