import { describe, expect, it } from 'vitest'
import { TABS, inTab, mergeEvents, nextDeadline, placeText, secondsLeft, tabCounts, type EventOut } from './model'

function event(id: string, created_at: string, status = 'dispatched'): EventOut {
  return { id, created_at, status } as EventOut
}

describe('nextDeadline', () => {
  const times = { accept_by: '2026-03-01T02:10:00Z', resolve_by: '2026-03-01T03:00:00Z' }
  it('runs against accepting until someone accepts, then against resolving', () => {
    expect(nextDeadline({ status: 'dispatched', ...times })).toEqual({ kind: 'accept', due: times.accept_by })
    expect(nextDeadline({ status: 'in_progress', ...times })).toEqual({ kind: 'resolve', due: times.resolve_by })
  })
  it('has none once the event is resolved, closed or cancelled', () => {
    for (const status of ['resolved', 'closed', 'cancelled']) expect(nextDeadline({ status, ...times })).toBeNull()
  })
  it('counts seconds left, negative once late', () => {
    expect(secondsLeft(times.accept_by, Date.parse('2026-03-01T02:00:00Z'))).toBe(600)
    expect(secondsLeft(times.accept_by, Date.parse('2026-03-01T02:11:00Z'))).toBe(-60)
  })
})

describe('mergeEvents', () => {
  it('replaces changed rows, adds new ones newest first and drops those that left the list', () => {
    const current = [event('b', '2026-03-01T02:00:00Z'), event('a', '2026-03-01T01:00:00Z')]
    const incoming = [event('c', '2026-03-01T03:00:00Z'), event('a', '2026-03-01T01:00:00Z', 'accepted')]
    const merged = mergeEvents(current, incoming, (e) => e.status === 'dispatched')
    expect(merged.map((e) => e.id)).toEqual(['c', 'b'])
    expect(mergeEvents(current, incoming, () => true).map((e) => [e.id, e.status])).toEqual([
      ['c', 'dispatched'],
      ['b', 'dispatched'],
      ['a', 'accepted'],
    ])
  })
})

describe('tabs', () => {
  it('count the statuses of each tab and take the overdue count as given', () => {
    const byStatus = { new: 1, dispatched: 2, accepted: 3, in_progress: 4, resolved: 5, closed: 6 }
    const counts = tabCounts({ total: 21, overdue: 7, by_status: byStatus })
    expect(counts).toMatchObject({ all: 21, pending: 3, working: 7, review: 5, done: 6, cancelled: 0, overdue: 7 })
  })
  it('keep an event by its status, the overdue tab by its overdue mark', () => {
    const [all, pending, , , , , overdue] = TABS
    expect(inTab(pending, { status: 'dispatched', overdue: false })).toBe(true)
    expect(inTab(pending, { status: 'accepted', overdue: true })).toBe(false)
    expect(inTab(overdue, { status: 'accepted', overdue: true })).toBe(true)
    expect(inTab(overdue, { status: 'closed', overdue: false })).toBe(false)
    expect(inTab(all, { status: 'cancelled', overdue: false })).toBe(true)
  })
})

describe('placeText', () => {
  it('joins the estate with the building and unit', () => {
    expect(placeText('悦峰尚府', { building: '2栋', unit: '1单元', lat: 22.5 })).toBe('悦峰尚府 · 2栋 · 1单元')
    expect(placeText('', { address: '东门' })).toBe('东门')
  })
})
