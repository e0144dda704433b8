// A resource's week as the staff calendar lays it out: seven local days, the slots of each day from the
// opening hours, and each live booking placed in its day at its slot (a booking that starts off the
// grid, after the hours changed, still shows, after the slots).
import { addDays, localDay, localTime, toInstant } from '@/console/wallClock'

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const

export interface Booked {
  id: number
  user_id: string
  starts_at: string
  ends_at: string
}

export interface Cell<B extends Booked> {
  start: string
  booking: B | null
}

export interface Day<B extends Booked> {
  day: string
  weekday: (typeof WEEKDAYS)[number]
  cells: Cell<B>[]
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number]
  return h * 60 + m
}

function hhmm(total: number): string {
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`
}

/** The slot starts of a day, 'HH:mm', from `opens` while a whole slot fits before `closes`. */
export function slotStarts(opens: string, closes: string, slotMinutes: number): string[] {
  const out: string[] = []
  for (let at = minutes(opens); at + slotMinutes <= minutes(closes); at += slotMinutes) out.push(hhmm(at))
  return out
}

/** The [start, end) instants of the week that begins on the local day `monday`. */
export function weekRange(monday: string): { start: Date; end: Date } {
  return { start: toInstant(monday)!, end: toInstant(addDays(monday, 7))! }
}

export function layWeek<B extends Booked>(monday: string, starts: string[], bookings: B[]): Day<B>[] {
  return WEEKDAYS.map((weekday, index) => {
    const day = addDays(monday, index)
    const mine = bookings.filter((b) => localDay(b.starts_at) === day)
    const cells: Cell<B>[] = starts.map((start) => ({ start, booking: mine.find((b) => localTime(b.starts_at) === start) ?? null }))
    const placed = new Set(cells.map((c) => c.booking?.id))
    for (const b of mine) if (!placed.has(b.id)) cells.push({ start: localTime(b.starts_at), booking: b })
    return { day, weekday, cells }
  })
}
