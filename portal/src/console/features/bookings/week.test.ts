import { describe, expect, it } from 'vitest'
import { layWeek, slotStarts, weekRange } from './week'

describe('the staff calendar week', () => {
  it('cuts the opening hours into whole slots', () => {
    expect(slotStarts('08:00', '11:00', 60)).toEqual(['08:00', '09:00', '10:00'])
    expect(slotStarts('06:00', '11:00', 120)).toEqual(['06:00', '08:00'])
  })
  it('is seven local days from Monday midnight in Asia/Shanghai', () => {
    const { start, end } = weekRange('2026-11-30')
    expect([start.toISOString(), end.toISOString()]).toEqual(['2026-11-29T16:00:00.000Z', '2026-12-06T16:00:00.000Z'])
  })
  it('puts each booking in its day and slot, and one off the grid after the slots', () => {
    const bookings = [
      { id: 1, user_id: 'u', starts_at: '2026-12-01T01:00:00Z', ends_at: '2026-12-01T02:00:00Z' },
      { id: 2, user_id: 'v', starts_at: '2026-12-01T01:30:00Z', ends_at: '2026-12-01T02:30:00Z' },
    ]
    const days = layWeek('2026-11-30', ['08:00', '09:00'], bookings)
    expect(days.map((d) => d.day)).toEqual(['2026-11-30', '2026-12-01', '2026-12-02', '2026-12-03', '2026-12-04', '2026-12-05', '2026-12-06'])
    expect(days[1]!.cells.map((c) => [c.start, c.booking?.id ?? null])).toEqual([['08:00', null], ['09:00', 1], ['09:30', 2]])
    expect(days[0]!.cells.every((c) => c.booking === null)).toBe(true)
  })
})
