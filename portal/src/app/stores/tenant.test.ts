import { describe, expect, it } from 'vitest'
import { slugFromPath } from './tenant'

describe('slugFromPath', () => {
  it('reads the tenant from /app/{slug}/', () => {
    expect(slugFromPath('/app/mumianling/')).toBe('mumianling')
    expect(slugFromPath('/app/nan-hong')).toBe('nan-hong')
  })
  it('refuses what is not a slug', () => {
    expect(slugFromPath('/app/')).toBeNull()
    expect(slugFromPath('/console/x/')).toBeNull()
    expect(slugFromPath('/app/Upper/')).toBeNull()
  })
})
