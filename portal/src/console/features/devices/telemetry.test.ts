import { describe, expect, it } from 'vitest'
import { axisTime, chartSeries, resolutionFor, telemetryWindow } from './telemetry'

describe('telemetryWindow', () => {
  it('asks for raw points up to two days, hourly rollups up to sixty days and daily ones beyond', () => {
    const now = new Date('2026-11-26T12:00:00Z')
    expect(telemetryWindow('24h', now)).toEqual({
      from: '2026-11-25T12:00:00.000Z',
      to: '2026-11-26T12:00:00.000Z',
      resolution: 'raw',
    })
    expect(telemetryWindow('7d', now).resolution).toBe('1h')
    expect(telemetryWindow('30d', now).resolution).toBe('1h')
    expect(telemetryWindow('180d', now).resolution).toBe('1d')
    expect([resolutionFor(48), resolutionFor(49), resolutionFor(1440), resolutionFor(1441)]).toEqual(['raw', '1h', '1h', '1d'])
  })
})

describe('chartSeries', () => {
  it('draws raw points as one line without a band', () => {
    const series = chartSeries([{ ts: 'a', value: 1 }, { ts: 'b', value: 2 }])
    expect(series).toEqual({ value: [['a', 1], ['b', 2]], low: [], spread: [] })
  })
  it('stacks the min–max band of rollups on its lower edge', () => {
    const series = chartSeries([{ ts: 'a', value: 30, min: 10, max: 60 }])
    expect(series.low).toEqual([['a', 10]])
    expect(series.spread).toEqual([['a', 50]])
  })
})

describe('axisTime', () => {
  it('labels in Shanghai time on a 24-hour clock', () => {
    expect(axisTime('2026-11-26T15:45:00Z', 'en', 'raw')).toBe('23:45')
    expect(axisTime('2026-11-26T17:00:00Z', 'en', '1d')).toBe('11/27')
  })
})
