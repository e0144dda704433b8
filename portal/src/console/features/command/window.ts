// The command screen's time window: a preset or a custom range of days, kept in the URL query
// (?window=7d, or ?window=custom&from=2026-11-01&to=2026-11-20), turned into the API's from/to.
// Days are Asia/Shanghai days (UTC+8 all year, no daylight saving), so the per-day numbers line up.
import { TIME_ZONE } from '@/shared/format'

export const PRESETS = ['today', '7d', '30d'] as const
export type Preset = (typeof PRESETS)[number]
export type Window = { preset: Preset } | { preset: 'custom'; from: string; to: string }
export interface Range {
  from: string
  to: string
}

export const DEFAULT_WINDOW: Window = { preset: '30d' }
const OFFSET = '+08:00'
const DAY_MS = 86_400_000
const DAYS_BACK: Record<Preset, number> = { today: 0, '7d': 6, '30d': 29 }
const DATE = /^\d{4}-\d{2}-\d{2}$/

/** The calendar day (YYYY-MM-DD) of an instant in Asia/Shanghai. */
export function shanghaiDay(instant: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    instant,
  )
}

function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10)
}

function midnight(day: string): string {
  return `${day}T00:00:00${OFFSET}`
}

function validDay(value: unknown): value is string {
  return typeof value === 'string' && DATE.test(value) && addDays(value, 0) === value
}

/** The window a URL query names; anything missing or malformed gives the default. */
export function parseWindow(query: Record<string, unknown>): Window {
  const preset = query.window
  if ((PRESETS as readonly unknown[]).includes(preset)) return { preset: preset as Preset }
  if (preset === 'custom' && validDay(query.from) && validDay(query.to) && query.from <= query.to) {
    return { preset: 'custom', from: query.from, to: query.to }
  }
  return DEFAULT_WINDOW
}

/** The URL query of a window (the other query parameters are the caller's to keep). */
export function windowQuery(window: Window): { window: string; from?: string; to?: string } {
  return window.preset === 'custom' ? { window: 'custom', from: window.from, to: window.to } : { window: window.preset }
}

/**
 * The API's from/to for a window at `now`: a preset runs from the start of its first day (today,
 * 6 or 29 days back) up to now; a custom range covers its first to its last day, both whole.
 */
export function windowRange(window: Window, now: Date): Range {
  if (window.preset === 'custom') return { from: midnight(window.from), to: midnight(addDays(window.to, 1)) }
  return { from: midnight(addDays(shanghaiDay(now), -DAYS_BACK[window.preset])), to: now.toISOString() }
}
