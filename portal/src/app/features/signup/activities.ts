// A signup service's open activities as the resident sees them (their own place included), and the
// words for that place.
import { api, call, type Schemas } from '@/api/client'

export type AppActivity = Schemas['AppActivity']

export async function loadActivities(slug: string, service: string): Promise<AppActivity[]> {
  const page = await call(api.GET('/api/v1/app/{slug}/signup/{signup_service}/activities', { params: { path: { slug, signup_service: service } } }))
  return page.items
}

export function placesLeft(activity: AppActivity): number {
  return Math.max(activity.capacity - activity.taken, 0)
}

export function isClosed(activity: AppActivity): boolean {
  return activity.status !== 'open' || new Date(activity.signup_deadline).getTime() <= Date.now()
}

/** The check-in QR code as a local URL (the API wants the bearer token, which an <img src> cannot send). */
export async function checkinQrUrl(slug: string, activityId: number): Promise<string> {
  const blob = await call(
    api.POST('/api/v1/app/{slug}/activities/{activity_id}/checkin-code.svg', { params: { path: { slug, activity_id: activityId } }, parseAs: 'blob' }),
  )
  return URL.createObjectURL(blob as Blob)
}
