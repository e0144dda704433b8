// Numbers and times as people read them. Times show in Asia/Shanghai with a 24-hour clock.
import type { Lang } from './locale'

export const TIME_ZONE = 'Asia/Shanghai'

export function formatDateTime(value: string | null | undefined, lang: Lang): string {
  if (!value) return '—'
  return new Intl.DateTimeFormat(lang, {
    timeZone: TIME_ZONE,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(value))
}

/** A duration in seconds as "1 h 05 min" / "1小时5分": minutes below a day, days and hours above. */
export function formatDuration(seconds: number | null | undefined, lang: Lang): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—'
  const negative = seconds < 0
  let rest = Math.round(Math.abs(seconds))
  const days = Math.floor(rest / 86400)
  rest -= days * 86400
  const hours = Math.floor(rest / 3600)
  rest -= hours * 3600
  const minutes = Math.floor(rest / 60)
  const parts: string[] = []
  const zh = lang === 'zh-CN'
  if (days) parts.push(zh ? `${days}天` : `${days} d`)
  if (hours) parts.push(zh ? `${hours}小时` : `${hours} h`)
  if (!days && (minutes || !hours)) {
    parts.push(zh ? `${minutes}分` : `${minutes} min`)
  }
  const text = parts.join(zh ? '' : ' ')
  return negative ? `-${text}` : text
}

/** A rate in [0, 1] as a percentage with one decimal, or a dash when there is nothing to rate. */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return '—'
  return `${(rate * 100).toFixed(1)}%`
}

/** A count with thousands separators, or a dash when there is none. */
export function formatCount(value: number | null | undefined, lang: Lang): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—'
  return new Intl.NumberFormat(lang, { maximumFractionDigits: 0 }).format(value)
}
