import { describe, expect, it } from 'vitest'
import { templateCsv, toCsv } from './csv'

describe('CSV', () => {
  it('quotes cells with commas, quotes or line breaks', () => {
    expect(toCsv([['a', 'b,c', 'say "hi"', null, 3]])).toBe('a,"b,c","say ""hi""",,3\r\n')
  })
  it('writes a template with the bulk header and the current node', () => {
    expect(templateCsv(892).split('\r\n')[0]).toBe('type,serial,node_id,building,unit,floor,space,gateway')
    expect(templateCsv(892)).toContain(',892,')
  })
})
