import { describe, expect, it } from 'vitest'
import { formatCount, formatDateTime, formatDuration, formatRate } from './format'

describe('formatDuration', () => {
  it('shows minutes below an hour and hours with minutes below a day', () => {
    expect(formatDuration(18 * 60, 'zh-CN')).toBe('18分')
    expect(formatDuration(3900, 'en')).toBe('1 h 5 min')
    expect(formatDuration(3600, 'zh-CN')).toBe('1小时')
  })
  it('drops minutes once it counts days, and keeps the sign of an overdue deadline', () => {
    expect(formatDuration(2 * 86400 + 3 * 3600 + 59, 'en')).toBe('2 d 3 h')
    expect(formatDuration(-125, 'en')).toBe('-2 min')
  })
  it('shows a dash for a missing value', () => {
    expect(formatDuration(null, 'en')).toBe('—')
  })
})

describe('formatRate, formatCount and formatDateTime', () => {
  it('formats rates as percentages and refuses to invent one', () => {
    expect(formatRate(0.9912)).toBe('99.1%')
    expect(formatRate(undefined)).toBe('—')
  })
  it('groups thousands in counts', () => {
    expect(formatCount(1234567, 'zh-CN')).toBe('1,234,567')
    expect(formatCount(0, 'en')).toBe('0')
    expect(formatCount(null, 'en')).toBe('—')
  })
  it('shows Shanghai time on a 24-hour clock', () => {
    expect(formatDateTime('2026-11-26T15:45:00Z', 'en')).toContain('23:45')
  })
})
