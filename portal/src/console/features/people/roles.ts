import type { Schemas } from '@/api/client'

export type Role = Schemas['UserInvite']['role']

// The roles a person may be invited with (the API refuses any above the inviter's own).
export const STAFF_ROLES = [
  'street_admin',
  'community_admin',
  'community_staff',
  'grid_worker',
  'property_manager',
  'auditor',
] as const satisfies readonly Role[]

export const KEY_ROLES = ['integration', 'auditor'] as const satisfies readonly Role[]
