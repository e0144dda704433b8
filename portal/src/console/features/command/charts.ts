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
    legend: { bottom: 0, left: 'center', icon: 'circle', itemWidth: 10, itemHeight: 10, itemGap: 8 },
    series: [
      {
        name: seriesName,
        type: 'pie',
        radius: ['34%', '56%'],
        center: ['50%', '40%'],
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

export interface Series {
  name: string
  values: number[]
}

/** One line per series over the days (YYYY-MM-DD) given, in their order. */
export function lineOption(days: string[], series: Series[]): EChartsCoreOption {
  return {
    color: PALETTE,
    tooltip: { trigger: 'axis' },
    legend: { top: 0, right: 0, icon: 'roundRect', itemWidth: 12, itemHeight: 4 },
    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
    xAxis: {
      type: 'category',
      boundaryGap: days.length < 3,
      data: days.map((day) => day.slice(5)),
      axisLabel: { color: AXIS },
      axisLine: { lineStyle: { color: SPLIT } },
    },
    yAxis: { type: 'value', minInterval: 1, axisLabel: { color: AXIS }, splitLine: { lineStyle: { color: SPLIT } } },
    series: series.map((s, index) => ({
      name: s.name,
      type: 'line',
      smooth: true,
      symbolSize: 6,
      areaStyle: index === 0 ? { opacity: 0.12 } : undefined,
      data: s.values,
    })),
  }
}
