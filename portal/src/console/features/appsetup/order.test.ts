import { describe, expect, it } from 'vitest'
import { moveBy, moveTo } from './order'

const list = [
  { code: 'a', section: 'x' },
  { code: 'b', section: 'x' },
  { code: 'c', section: 'x' },
  { code: 'd', section: 'y' },
]
const codes = (l: { code: string }[]) => l.map((s) => s.code).join('')

describe('moveTo', () => {
  it('moves a service to where the target was', () => {
    expect(codes(moveTo(list, 'c', 'a'))).toBe('cabd')
    expect(codes(moveTo(list, 'a', 'c'))).toBe('bcad')
  })
  it('never moves across sections', () => {
    expect(moveTo(list, 'd', 'a')).toBe(list)
  })
})

describe('moveBy', () => {
  it('swaps with the neighbour in the section', () => {
    expect(codes(moveBy(list, 'b', -1))).toBe('bacd')
    expect(codes(moveBy(list, 'b', 1))).toBe('acbd')
  })
  it('stays at the ends of a section', () => {
    expect(moveBy(list, 'c', 1)).toBe(list)
    expect(moveBy(list, 'd', -1)).toBe(list)
  })
})
