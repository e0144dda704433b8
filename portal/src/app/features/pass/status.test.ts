import { describe, expect, it } from 'vitest'
import type { Schemas } from '@/api/client'
import { passStatus } from './status'

const NOW = new Date('2026-05-01T12:00:00Z')

function pass(overrides: Partial<Schemas['PassOut']>): Schemas['PassOut'] {
  return {
    id: 1,
    tenant_id: 1,
    node_id: 1,
    node_path: 'a',
    service: 'prop_visitor_pass',
    kind: 'visitor',
    visitor_name: '张师傅',
    plate: null,
    item: null,
    valid_from: '2026-05-01T00:00:00Z',
    valid_until: '2026-05-02T00:00:00Z',
    uses_allowed: 2,
    uses_left: 2,
    revoked_at: null,
    created_at: '2026-05-01T00:00:00Z',
    token: null,
    ...overrides,
  }
}

describe('passStatus', () => {
  it('is valid inside its window with uses left', () => {
    expect(passStatus(pass({}), NOW)).toBe('valid')
  })

  it('puts revoked before used up, used up before expired', () => {
    expect(passStatus(pass({ revoked_at: '2026-05-01T01:00:00Z', uses_left: 0 }), NOW)).toBe('revoked')
    expect(passStatus(pass({ uses_left: 0, valid_until: '2026-04-30T00:00:00Z' }), NOW)).toBe('used')
    expect(passStatus(pass({ valid_until: '2026-05-01T12:00:00Z' }), NOW)).toBe('expired')
  })

  it('is upcoming before its window', () => {
    expect(passStatus(pass({ valid_from: '2026-05-01T13:00:00Z' }), NOW)).toBe('upcoming')
  })
})
