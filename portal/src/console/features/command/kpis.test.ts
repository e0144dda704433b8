import { describe, expect, it } from 'vitest'
import { barOption, slices } from './charts'
import { formatKpi, sortChildren, type NodeKpis } from './kpis'

function child(id: number, total: number, satisfaction: number | null): NodeKpis {
  return {
    node: { id, parent_id: 1, level: 'street', code: String(id), name: `n${id}`, name_en: null, node_path: `d.s${id}`, attrs: {} },
    events: {
      total,
      open: 0,
      resolved: 0,
      cancelled: 0,
      avg_accept_s: null,
      p90_accept_s: null,
      avg_resolve_s: null,
      p90_resolve_s: null,
      on_time_rate: null,
      resolution_rate: null,
      ratings: 0,
      avg_rating: null,
      satisfaction_rate: satisfaction,
    },
    iot: { devices: 0, online: 0, offline: 0, open_alarms: 0, critical_alarms: 0 },
  }
}

describe('sortChildren', () => {
  const rows = [child(1, 5, 0.9), child(2, 9, null), child(3, 5, 0.7), child(4, 1, 0.95)]
  const ids = (sorted: NodeKpis[]): number[] => sorted.map((r) => r.node.id)

  it("keeps the API's order without a choice", () => {
    expect(ids(sortChildren(rows, null, 'descending'))).toEqual([1, 2, 3, 4])
  })
  it("sorts by one KPI both ways, ties in the API's order", () => {
    expect(ids(sortChildren(rows, 'total', 'descending'))).toEqual([2, 1, 3, 4])
    expect(ids(sortChildren(rows, 'total', 'ascending'))).toEqual([4, 1, 3, 2])
  })
  it('puts a missing value last either way', () => {
    expect(ids(sortChildren(rows, 'satisfaction', 'descending'))).toEqual([4, 1, 3, 2])
    expect(ids(sortChildren(rows, 'satisfaction', 'ascending'))).toEqual([3, 1, 4, 2])
  })
})

describe('formatKpi', () => {
  it('shows each kind of number as the cards and the table do', () => {
    expect(formatKpi('count', 12345, 'zh-CN')).toBe('12,345')
    expect(formatKpi('rate', 0.8567, 'en')).toBe('85.7%')
    expect(formatKpi('duration', 1080, 'zh-CN')).toBe('18分')
    expect(formatKpi('rate', null, 'en')).toBe('—')
  })
})

describe('chart data', () => {
  it('orders counts largest first, labels them and keeps the top ones as they are', () => {
    const data = slices({ hotline: 3, ai_video: 12, robot: 3, upstream: 1 }, (k) => k.toUpperCase(), 3)
    expect(data).toEqual([
      { key: 'ai_video', name: 'AI_VIDEO', value: 12 },
      { key: 'hotline', name: 'HOTLINE', value: 3 },
      { key: 'robot', name: 'ROBOT', value: 3 },
    ])
  })
  it('draws horizontal bars with the largest on top', () => {
    const option = barOption(slices({ a: 1, b: 5 }, (k) => k), 'Events') as { yAxis: { data: string[] }; series: { data: number[] }[] }
    expect(option.yAxis.data).toEqual(['a', 'b'])
    expect(option.series[0]!.data).toEqual([1, 5])
  })
})
