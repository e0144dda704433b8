// The telemetry chart's arithmetic: which window and resolution a chosen range asks the API for, and the
// series ECharts draws from the points it answers (raw readings, or hourly/daily rollups with min and max).
import { TIME_ZONE } from '@/shared/format'
import type { Lang } from '@/shared/locale'

export type RangeKey = '6h' | '24h' | '7d' | '30d' | '180d'
export type Resolution = 'raw' | '1h' | '1d'

const HOUR_MS = 3_600_000
export const RANGE_HOURS: Record<RangeKey, number> = { '6h': 6, '24h': 24, '7d': 168, '30d': 720, '180d': 4320 }
// The API's own limits (linli/iot/telemetry.py): raw points up to 2 days, hourly rollups up to 60 days.
const RAW_MAX_HOURS = 48
const HOURLY_MAX_HOURS = 60 * 24

export function resolutionFor(hours: number): Resolution {
  if (hours <= RAW_MAX_HOURS) return 'raw'
  return hours <= HOURLY_MAX_HOURS ? '1h' : '1d'
}

export interface TelemetryWindow {
  from: string
  to: string
  resolution: Resolution
}

export function telemetryWindow(range: RangeKey, now: Date = new Date()): TelemetryWindow {
  const hours = RANGE_HOURS[range]
  return {
    from: new Date(now.getTime() - hours * HOUR_MS).toISOString(),
    to: now.toISOString(),
    resolution: resolutionFor(hours),
  }
}

export interface Point {
  ts: string
  value: number
  min?: number | null
  max?: number | null
}

export type Pair = [string, number]

export interface ChartSeries {
  value: Pair[]
  /** For rollups: the lower edge of the min–max band and its height (stacked on the lower edge). */
  low: Pair[]
  spread: Pair[]
}

export function chartSeries(points: Point[]): ChartSeries {
  const value: Pair[] = points.map((p) => [p.ts, p.value])
  const banded = points.filter((p) => typeof p.min === 'number' && typeof p.max === 'number')
  return {
    value,
    low: banded.map((p) => [p.ts, p.min as number]),
    spread: banded.map((p) => [p.ts, (p.max as number) - (p.min as number)]),
  }
}

/** A time axis label in Shanghai time: hours and minutes for raw points, the day for rollups. */
export function axisTime(ts: number | string, lang: Lang, resolution: Resolution): string {
  const options: Intl.DateTimeFormatOptions =
    resolution === 'raw'
      ? { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
      : resolution === '1h'
        ? { month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' }
        : { month: '2-digit', day: '2-digit' }
  return new Intl.DateTimeFormat(lang, { timeZone: TIME_ZONE, ...options }).format(new Date(ts))
}
