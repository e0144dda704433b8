// An activity's state as staff read it: the API's status, with an open activity that has ended shown so.
import type { Schemas } from '@/api/client'

export type Activity = Schemas['ActivityOut']

export function stateOf(activity: Activity, at: Date = new Date()): 'open' | 'cancelled' | 'ended' {
  if (activity.status === 'cancelled') return 'cancelled'
  return new Date(activity.ends_at) <= at ? 'ended' : 'open'
}

export const STATE_TAG = { open: 'success', cancelled: 'info', ended: 'warning' } as const
