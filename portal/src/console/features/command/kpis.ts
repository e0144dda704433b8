// The numbers of the command screen, named once for the KPI cards and the children table, so both show
// the same figures the same way. Every value is read from the API's answer as it is: nothing here
// adds, divides or rounds beyond display.
import type { Schemas } from '@/api/client'
import { formatCount, formatDuration, formatRate } from '@/shared/format'
import type { Lang } from '@/shared/locale'

export type NodeKpis = Schemas['NodeKpis']
export type Format = 'count' | 'duration' | 'rate'

export interface Kpi {
  key: string
  /** Message key under `command.kpi`. */
  label: string
  format: Format
  value(kpis: NodeKpis): number | null
}

export const KPIS = [
  { key: 'total', label: 'total', format: 'count', value: (k) => k.events.total },
  { key: 'open', label: 'open', format: 'count', value: (k) => k.events.open },
  { key: 'avg-accept', label: 'avgAccept', format: 'duration', value: (k) => k.events.avg_accept_s },
  { key: 'avg-resolve', label: 'avgResolve', format: 'duration', value: (k) => k.events.avg_resolve_s },
  { key: 'on-time', label: 'onTime', format: 'rate', value: (k) => k.events.on_time_rate },
  { key: 'resolution', label: 'resolution', format: 'rate', value: (k) => k.events.resolution_rate },
  { key: 'satisfaction', label: 'satisfaction', format: 'rate', value: (k) => k.events.satisfaction_rate },
  { key: 'devices-online', label: 'devicesOnline', format: 'count', value: (k) => k.iot.online },
  { key: 'open-alarms', label: 'openAlarms', format: 'count', value: (k) => k.iot.open_alarms },
] as const satisfies readonly Kpi[]

export type KpiKey = (typeof KPIS)[number]['key']

export function formatKpi(format: Format, value: number | null, lang: Lang): string {
  if (format === 'duration') return formatDuration(value, lang)
  if (format === 'rate') return formatRate(value)
  return formatCount(value, lang)
}

export type SortOrder = 'ascending' | 'descending'

/**
 * The children in the order the user asked for: by one KPI (a missing value last either way), ties
 * and no choice keep the API's order.
 */
export function sortChildren(children: NodeKpis[], key: KpiKey | null, order: SortOrder): NodeKpis[] {
  const kpi = KPIS.find((k) => k.key === key)
  if (!kpi) return children
  const sign = order === 'ascending' ? 1 : -1
  return children
    .map((child, index) => ({ child, index, value: kpi.value(child) }))
    .sort((a, b) => {
      if (a.value === null || b.value === null) {
        return a.value === b.value ? a.index - b.index : a.value === null ? 1 : -1
      }
      return sign * (a.value - b.value) || a.index - b.index
    })
    .map(({ child }) => child)
}
