// Times as the community's wall clock shows them (shared/format's TIME_ZONE): what a datetime-local input
// holds, turned into an instant for the API and back, and the days of a week.
import { TIME_ZONE } from '@/shared/format'

const parts = new Intl.DateTimeFormat('en-CA', {
  timeZone: TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
})

function fields(instant: Date): Record<string, string> {
  return Object.fromEntries(parts.formatToParts(instant).map((p) => [p.type, p.value]))
}

/** The wall clock of an instant as a datetime-local value, 'YYYY-MM-DDTHH:mm'. */
export function toLocalInput(instant: Date | string): string {
  const f = fields(typeof instant === 'string' ? new Date(instant) : instant)
  return `${f.year}-${f.month}-${f.day}T${f.hour}:${f.minute}`
}

/** The local day of an instant, 'YYYY-MM-DD'. */
export function localDay(instant: Date | string): string {
  return toLocalInput(instant).slice(0, 10)
}

/** The local time of day of an instant, 'HH:mm'. */
export function localTime(instant: Date | string): string {
  return toLocalInput(instant).slice(11, 16)
}

/** The instant a wall-clock time ('YYYY-MM-DDTHH:mm' or 'YYYY-MM-DD') stands for, or null when unreadable. */
export function toInstant(local: string): Date | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?$/.exec(local)
  if (!match) return null
  const [y, mo, d, h, mi] = match.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number]
  const guess = Date.UTC(y, mo - 1, d, h, mi)
  const seen = toLocalInput(new Date(guess))
  const seenUtc = Date.UTC(+seen.slice(0, 4), +seen.slice(5, 7) - 1, +seen.slice(8, 10), +seen.slice(11, 13), +seen.slice(14, 16))
  return new Date(guess - (seenUtc - guess))
}

/** A local day moved by whole days ('YYYY-MM-DD'). */
export function addDays(day: string, days: number): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number]
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10)
}

/** The Monday of the week a local day lies in. */
export function mondayOf(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number]
  const weekday = (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7
  return addDays(day, -weekday)
}
