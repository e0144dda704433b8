import { describe, expect, it, vi } from 'vitest'

vi.mock('element-plus', () => ({ ElMessage: { error: vi.fn() }, ElMessageBox: { confirm: vi.fn() } }))

import { ElMessage } from 'element-plus'
import { ApiError } from '@/api/client'
import { fieldRefusal } from './forms'

describe('fieldRefusal', () => {
  const known: Record<string, [string, string]> = { invalid_times: ['starts_at', 'in order, please'] }
  it('puts a known refusal on its field and a 422 on the fields it names', () => {
    expect(fieldRefusal(new ApiError(409, 'invalid_times', 'x'), known, 'failed')).toEqual({ starts_at: 'in order, please' })
    const invalid = new ApiError(422, 'validation_error', 'x', [{ loc: ['body', 'title'], msg: 'too long' }])
    expect(fieldRefusal(invalid, known, 'failed')).toEqual({ title: 'too long' })
    expect(ElMessage.error).not.toHaveBeenCalled()
  })
  it('shows anything else as a message', () => {
    expect(fieldRefusal(new ApiError(404, 'not_found', 'no such node'), known, 'failed')).toEqual({})
    expect(fieldRefusal(new Error('boom'), known, 'failed')).toEqual({})
    expect(vi.mocked(ElMessage.error).mock.calls).toEqual([['no such node'], ['failed']])
  })
})
