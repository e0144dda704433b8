import { describe, expect, it } from 'vitest'
import { locationBody, placeText } from './place'

describe('placeText', () => {
  it('reads estate › building › unit › floor › space in that order, skipping what is missing', () => {
    expect(placeText('悦峰尚府', { space: '地下车库', building: '1栋', floor: 'B1', unit: '1单元' })).toBe(
      '悦峰尚府 · 1栋 · 1单元 · B1 · 地下车库',
    )
    expect(placeText('悦峰尚府', { building: '2栋', unit: '' })).toBe('悦峰尚府 · 2栋')
    expect(placeText(undefined, {})).toBe('')
  })
  it('sends only the parts filled in', () => {
    expect(locationBody({ building: ' 1栋 ', unit: '', floor: undefined, space: '301' })).toEqual({ building: '1栋', space: '301' })
  })
})
