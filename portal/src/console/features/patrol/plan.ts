// A plan with its checkpoints, and a checkpoint's QR code as a local URL (the API wants the bearer token,
// which an <img src> cannot send).
import { api, call, type Schemas } from '@/api/client'

export function loadPlan(planId: number): Promise<Schemas['PlanDetail']> {
  return call(api.GET('/api/v1/patrol/plans/{plan_id}', { params: { path: { plan_id: planId } } }))
}

export async function qrUrl(checkpointId: number): Promise<string> {
  const blob = await call(
    api.GET('/api/v1/patrol/checkpoints/{checkpoint_id}/qr.svg', {
      params: { path: { checkpoint_id: checkpointId } },
      parseAs: 'blob',
    }),
  )
  return URL.createObjectURL(blob as Blob)
}
