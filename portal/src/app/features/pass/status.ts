// Where a pass stands for its resident: revoked, used up, expired, not yet valid, or valid.
import type { Schemas } from '@/api/client'

export type PassStatus = 'valid' | 'upcoming' | 'used' | 'revoked' | 'expired'

export function passStatus(pass: Schemas['PassOut'], now: Date = new Date()): PassStatus {
  if (pass.revoked_at) return 'revoked'
  if (pass.uses_left <= 0) return 'used'
  if (new Date(pass.valid_until) <= now) return 'expired'
  if (new Date(pass.valid_from) > now) return 'upcoming'
  return 'valid'
}

/** The tag colour of a status (Vant's tag types). */
export const STATUS_TAG: Record<PassStatus, 'success' | 'primary' | 'default' | 'danger'> = {
  valid: 'success',
  upcoming: 'primary',
  used: 'default',
  revoked: 'danger',
  expired: 'default',
}
