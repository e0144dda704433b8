import { describe, expect, it } from 'vitest'
import { passwordStrength } from './strength'

describe('passwordStrength', () => {
  it('calls anything under the minimum length very weak', () => {
    expect(passwordStrength('Ab1!')).toBe(0)
  })
  it('rises with variety and length', () => {
    expect(passwordStrength('abcdefghij')).toBe(0)
    expect(passwordStrength('abcdefgh12')).toBe(1)
    expect(passwordStrength('Abcdefgh12!x')).toBe(3)
    expect(passwordStrength('Abcdefgh12!xyzw')).toBe(4)
  })
  it('counts repeats against it', () => {
    expect(passwordStrength('aaaaaaaaaaA1')).toBe(1)
  })
})
