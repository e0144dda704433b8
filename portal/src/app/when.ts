// Days and times of day as residents read them, on the community's clock (Asia/Shanghai): a slot's
// "09:00", a day's "2026-11-26" (what the API takes as a local day), "周四 11/26".
import { TIME_ZONE } from '@/shared/format'
import type { Lang } from '@/shared/locale'

/** The time of day, HH:MM on a 24-hour clock. */
export function timeOf(value: string | Date): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(value))
}

/** The local day, YYYY-MM-DD. */
export function dayOf(value: string | Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(value))
}

/** A local day (YYYY-MM-DD) moved by whole days. */
export function addDays(day: string, days: number): string {
  const [y, m, d] = day.split('-').map(Number)
  return new Date(Date.UTC(y ?? 1970, (m ?? 1) - 1, (d ?? 1) + days)).toISOString().slice(0, 10)
}

/** A local day as "周四 11/26" / "Thu 11/26". */
export function dayLabel(day: string, lang: Lang): string {
  const noon = new Date(`${day}T12:00:00+08:00`)
  const weekday = new Intl.DateTimeFormat(lang, { timeZone: TIME_ZONE, weekday: 'short' }).format(noon)
  return `${weekday} ${day.slice(5, 7)}/${day.slice(8, 10)}`
}

/** From start to end: "11/29 09:00–11:00", the end's day repeated only when it differs. */
export function spanOf(start: string, end: string): string {
  const md = (value: string): string => dayOf(value).slice(5).replace('-', '/')
  const tail = dayOf(start) === dayOf(end) ? timeOf(end) : `${md(end)} ${timeOf(end)}`
  return `${md(start)} ${timeOf(start)}–${tail}`
}
