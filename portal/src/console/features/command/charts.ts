// Chart options built from the API's counts as they are: sorted and labelled, never summed or scaled.
import type { EChartsCoreOption } from 'echarts/core'

export const PALETTE = ['#1d5fbf', '#13a8a8', '#f29c1f', '#e0533d', '#7b61c9', '#2fa84f', '#8c9bab', '#c9447c']
const AXIS = '#8a97a8'
const SPLIT = '#e8edf3'

export interface Slice {
  key: string
  name: string
  value: number
}

/** Counts by key, largest first (ties by key), labelled, at most `top` of them. */
export function slices(counts: Record<string, number>, label: (key: string) => string, top = Infinity): Slice[] {
  return Object.entries(counts)
    .sort(([ka, a], [kb, b]) => b - a || ka.localeCompare(kb))
    .slice(0, top)
    .map(([key, value]) => ({ key, name: label(key), value }))
}

export function ringOption(data: Slice[], seriesName: string): EChartsCoreOption {
  return {
    color: PALETTE,
    tooltip: { trigger: 'item', formatter: '{b}: {c} ({d}%)' },
    legend: { type: 'scroll', bottom: 0, icon: 'circle', itemWidth: 10, itemHeight: 10 },
    series: [
      {
        name: seriesName,
        type: 'pie',
        radius: ['42%', '68%'],
        center: ['50%', '44%'],
        avoidLabelOverlap: true,
        itemStyle: { borderColor: '#fff', borderWidth: 2 },
        label: { formatter: '{c}', color: '#1f2d3d' },
        data: data.map(({ name, value }) => ({ name, value })),
      },
    ],
  }
}

/** Horizontal bars, the largest on top. */
export function barOption(data: Slice[], seriesName: string): EChartsCoreOption {
  const rows = [...data].reverse()
  return {
    color: PALETTE,
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    grid: { left: 8, right: 36, top: 8, bottom: 8, containLabel: true },
    xAxis: { type: 'value', minInterval: 1, axisLabel: { color: AXIS }, splitLine: { lineStyle: { color: SPLIT } } },
    yAxis: {
      type: 'category',
      data: rows.map((s) => s.name),
      axisLabel: { color: '#3b4a5c', width: 120, overflow: 'truncate' },
      axisTick: { show: false },
      axisLine: { lineStyle: { color: SPLIT } },
    },
    series: [
      {
        name: seriesName,
        type: 'bar',
        barMaxWidth: 16,
        itemStyle: { borderRadius: [0, 3, 3, 0] },
        label: { show: true, position: 'right', color: '#3b4a5c' },
        data: rows.map((s) => s.value),
      },
    ],
  }
}

export interface DayCount {
  day: string
  value: number
}

/** One point per day, in the order given. */
export function lineOption(days: DayCount[], seriesName: string): EChartsCoreOption {
  return {
    color: PALETTE,
    tooltip: { trigger: 'axis' },
    grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
    xAxis: {
      type: 'category',
      boundaryGap: false,
      data: days.map((d) => d.day.slice(5)),
      axisLabel: { color: AXIS },
      axisLine: { lineStyle: { color: SPLIT } },
    },
    yAxis: { type: 'value', minInterval: 1, axisLabel: { color: AXIS }, splitLine: { lineStyle: { color: SPLIT } } },
    series: [
      {
        name: seriesName,
        type: 'line',
        smooth: true,
        symbolSize: 6,
        areaStyle: { opacity: 0.12 },
        data: days.map((d) => d.value),
      },
    ],
  }
}
